"""The built-in software STS token engine: the kernel's TokenEngine port over gridvend.sts."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from gridvend.kernel.errors import KeyChangeSameKey
from gridvend.kernel.tokens import IssuedToken, MeterKeyRef, TokenEngine, minutes_since_base
from gridvend.keys.errors import TokenRefused
from gridvend.keys.services import load_vending_key
from gridvend.sts import engine as sts_engine
from gridvend.sts.engine import RndSource
from gridvend.sts.errors import KeyChangeSameKey as StsKeyChangeSameKey
from gridvend.sts.errors import StsError
from gridvend.sts.keys import DecoderKey, MeterKeyParams
from gridvend.sts.tables import TableSet
from gridvend.sts.tokens import ManagementSubclass

_CLEAR_ALL_REGISTERS = 0xFFFF
_MANAGEMENT_KINDS = ("clear_tamper", "clear_credit", "set_power_limit", "set_phase_unbalance_limit")
_TEST_ALL = (1 << 36) - 1


def meter_params(meter: MeterKeyRef) -> MeterKeyParams:
    return MeterKeyParams.create(
        meter=meter.meter_number,
        sgc=meter.sgc,
        ti=meter.ti,
        krn=meter.krn,
        kt=meter.kt,
        ken=meter.ken,
        ea=meter.ea,
        dkga=meter.dkga,
        base_date=meter.base_date_year,
    )


def _units(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


class SoftwareStsEngine:
    """Issues STS tokens in-process from keys in the encrypted key store.

    Token descriptions are stored with the sale, so they are written in one language (English)
    whatever the seller's; screens show the translated token kind instead. Every token is made
    from the meter's decoder key (:meth:`decoder_key`); the HSM engine derives that inside the
    HSM instead (gridvend.keys.hsm).
    """

    def __init__(self, *, rnd_source: RndSource | None = None) -> None:
        # ``rnd_source``: where the tokens' random bits come from (``secrets`` unless given); a
        # fixed one makes equal keys give equal tokens, which is how tests compare engines.
        self._engines = {
            "real": sts_engine.StsEngine(sta_tables=TableSet.REAL),
            "sample": sts_engine.StsEngine(sta_tables=TableSet.SAMPLE),
        }
        self._rnd_source = rnd_source or sts_engine.random_rnd

    def __repr__(self) -> str:
        return "SoftwareStsEngine()"

    def decoder_key(self, meter: MeterKeyRef) -> tuple[DecoderKey, TableSet]:
        """The meter's decoder key (cached per process) and the STA table set of its key."""
        key, tables = load_vending_key(meter.key_ref)
        engine = self._engines[tables]
        try:
            return engine.decoder_key(meter_params(meter), key), engine.sta_tables
        except StsError as exc:
            raise TokenRefused(str(exc)) from None

    def _rnd(self) -> int:
        return self._rnd_source()

    def tid_for(self, meter: MeterKeyRef, when: datetime) -> int:
        return minutes_since_base(meter.base_date_year, when)

    def issue_credit(self, meter: MeterKeyRef, *, kwh: Decimal, tid: int) -> IssuedToken:
        key, tables = self.decoder_key(meter)
        try:
            issued = sts_engine.credit_token(
                key, amount=kwh, tid=tid, rnd=self._rnd(), ken=meter.ken, tables=tables
            )
        except StsError as exc:
            raise TokenRefused(str(exc)) from None
        return IssuedToken(
            digits=issued.digits,
            token_class=int(issued.token_class),
            subclass=issued.subclass,
            tid=issued.tid,
            units=_units(issued.amount),
            description=f"Electricity credit {_units(issued.amount)} kWh",
        )

    def issue_engineering(
        self, meter: MeterKeyRef, *, kind: str, value: int | None, tid: int | None
    ) -> IssuedToken:
        params = meter_params(meter)
        try:
            if kind == "test":
                issued = sts_engine.meter_test_token(
                    control=_TEST_ALL if value is None else value,
                    mfr_code=int(params.meter.manufacturer_code),
                    four_digit_mfr=len(params.meter.manufacturer_code) == 4,
                )
                description = "Meter test"
            elif kind in _MANAGEMENT_KINDS:
                if tid is None:
                    raise TokenRefused("a management token needs a TID")
                issued, description = self._management(meter, kind, value, tid)
            else:
                raise TokenRefused(f"unknown engineering token {kind!r}")
        except StsError as exc:
            raise TokenRefused(str(exc)) from None
        subclass = issued.subclass
        return IssuedToken(
            digits=issued.digits,
            token_class=int(issued.token_class),
            subclass=int(subclass),
            tid=issued.tid,
            units=None,
            description=str(description),
        )

    def _management(
        self, meter: MeterKeyRef, kind: str, value: int | None, tid: int
    ) -> tuple[sts_engine.IssuedToken, str]:
        if kind in ("set_power_limit", "set_phase_unbalance_limit") and value is None:
            raise TokenRefused(
                "a power limit in watts is required"
                if kind == "set_power_limit"
                else "a limit in watts is required"
            )
        key, tables = self.decoder_key(meter)
        rnd, ken = self._rnd(), meter.ken
        if kind in ("clear_tamper", "clear_credit"):
            subclass = (
                ManagementSubclass.CLEAR_TAMPER
                if kind == "clear_tamper"
                else ManagementSubclass.CLEAR_CREDIT
            )
            register = 0 if kind == "clear_tamper" else value
            issued = sts_engine.management_token(
                key,
                subclass=subclass,
                value=_CLEAR_ALL_REGISTERS if register is None else register,
                tid=tid,
                rnd=rnd,
                ken=ken,
                tables=tables,
            )
            return issued, "Clear tamper" if kind == "clear_tamper" else "Clear credit"
        assert value is not None
        unbalance = kind == "set_phase_unbalance_limit"
        issued = sts_engine.power_limit_token(
            key, watts=value, phase_unbalance=unbalance, tid=tid, rnd=rnd, ken=ken, tables=tables
        )
        if unbalance:
            return issued, f"Set phase unbalance limit {issued.amount} W"
        return issued, f"Set power limit {issued.amount} W"

    def _key_change_keys(
        self, old: MeterKeyRef, new: MeterKeyRef
    ) -> tuple[DecoderKey, DecoderKey, TableSet]:
        if old.meter_number != new.meter_number:
            raise TokenRefused("a key change keeps the meter number")
        if old.ea != new.ea:
            raise TokenRefused("key-change tokens cannot switch the encryption algorithm")
        current, tables = self.decoder_key(old)
        new_key, _new_tables = self.decoder_key(new)
        # Compared as keys, not parameters (see TokenEngine.check_key_change).
        if current == new_key:
            raise KeyChangeSameKey(meter_number=old.meter_number)
        return current, new_key, tables

    def check_key_change(self, old: MeterKeyRef, new: MeterKeyRef) -> None:
        self._key_change_keys(old, new)

    def issue_key_change(
        self, old: MeterKeyRef, new: MeterKeyRef, *, roll_over: bool
    ) -> list[IssuedToken]:
        current, new_key, tables = self._key_change_keys(old, new)
        try:
            issued = sts_engine.key_change_tokens(
                current,
                new_key,
                ken=new.ken,
                krn=new.krn,
                kt=new.kt,
                ti=new.ti,
                sgc=new.sgc,
                ro=roll_over,
                tables=tables,
            )
        except StsKeyChangeSameKey:
            raise KeyChangeSameKey(meter_number=old.meter_number) from None
        except StsError as exc:
            raise TokenRefused(str(exc)) from None
        return [
            IssuedToken(
                digits=t.digits,
                token_class=int(t.token_class),
                subclass=int(t.subclass),
                tid=None,
                units=None,
                description=f"Key change {i} of {len(issued)}",
            )
            for i, t in enumerate(issued, start=1)
        ]


_engine: TokenEngine | None = None
_engine_lock = threading.Lock()


def token_engine() -> TokenEngine:
    """The process-wide engine GRIDVEND_TOKEN_ENGINE names: the software one (decoder keys cached
    inside it) or the PKCS#11 one (decoder keys derived in the HSM)."""
    global _engine
    with _engine_lock:
        hsm = settings.TOKEN_ENGINE == "pkcs11"
        # Made again when the setting names the other kind (only tests change settings).
        if _engine is None or (type(_engine) is SoftwareStsEngine) == hsm:
            replaced = getattr(_engine, "close", None)
            if replaced is not None:
                replaced()
            if hsm:
                from gridvend.keys.hsm import HsmTokenEngine

                _engine = HsmTokenEngine.from_settings()
            else:
                _engine = SoftwareStsEngine()
        return _engine


def engine_or_default(engine: TokenEngine | None) -> TokenEngine:
    """The engine a use case was given (a test's, an HSM's), else the process-wide one."""
    return engine if engine is not None else token_engine()
