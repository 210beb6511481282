"""The built-in software STS token engine: the kernel's TokenEngine port over gridvend.sts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from gridvend.kernel.errors import KeyChangeSameKey
from gridvend.kernel.tokens import IssuedToken, MeterKeyRef, TokenEngine, minutes_since_base
from gridvend.keys.errors import TokenRefused
from gridvend.keys.services import load_vending_key
from gridvend.sts import engine as sts_engine
from gridvend.sts.engine import RndSource
from gridvend.sts.errors import KeyChangeSameKey as StsKeyChangeSameKey
from gridvend.sts.errors import StsError
from gridvend.sts.keys import MeterKeyParams
from gridvend.sts.tables import TableSet

_CLEAR_ALL_REGISTERS = 0xFFFF
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
    whatever the seller's; screens show the translated token kind instead.
    """

    def __init__(self, *, rnd_source: RndSource | None = None) -> None:
        # ``rnd_source``: where the tokens' random bits come from (``secrets`` unless given); a
        # fixed one makes equal keys give equal tokens, which is how tests compare engines.
        self._engines = {
            "real": sts_engine.StsEngine(sta_tables=TableSet.REAL, rnd_source=rnd_source),
            "sample": sts_engine.StsEngine(sta_tables=TableSet.SAMPLE, rnd_source=rnd_source),
        }

    def __repr__(self) -> str:
        return "SoftwareStsEngine()"

    def tid_for(self, meter: MeterKeyRef, when: datetime) -> int:
        return minutes_since_base(meter.base_date_year, when)

    def issue_credit(self, meter: MeterKeyRef, *, kwh: Decimal, tid: int) -> IssuedToken:
        key, tables = load_vending_key(meter.key_ref)
        try:
            issued = self._engines[tables].issue_credit(
                meter_params(meter), key, amount=kwh, tid=tid
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
        key, tables = load_vending_key(meter.key_ref)
        engine = self._engines[tables]
        params = meter_params(meter)
        try:
            if kind == "test":
                issued = sts_engine.meter_test_token(
                    control=_TEST_ALL if value is None else value,
                    mfr_code=int(params.meter.manufacturer_code),
                    four_digit_mfr=len(params.meter.manufacturer_code) == 4,
                )
                description = "Meter test"
            elif kind == "clear_tamper":
                issued = engine.issue_clear_tamper(params, key, tid=tid)
                description = "Clear tamper"
            elif kind == "clear_credit":
                register = _CLEAR_ALL_REGISTERS if value is None else value
                issued = engine.issue_clear_credit(params, key, register=register, tid=tid)
                description = "Clear credit"
            elif kind == "set_power_limit":
                if value is None:
                    raise TokenRefused("a power limit in watts is required")
                issued = engine.issue_set_power_limit(params, key, watts=value, tid=tid)
                description = f"Set power limit {issued.amount} W"
            elif kind == "set_phase_unbalance_limit":
                if value is None:
                    raise TokenRefused("a limit in watts is required")
                issued = engine.issue_set_phase_unbalance_limit(params, key, watts=value, tid=tid)
                description = f"Set phase unbalance limit {issued.amount} W"
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

    def check_key_change(self, old: MeterKeyRef, new: MeterKeyRef) -> None:
        old_key, tables = load_vending_key(old.key_ref)
        new_key, _new_tables = load_vending_key(new.key_ref)
        try:
            self._engines[tables].check_key_change(
                meter_params(old), old_key, meter_params(new), new_key
            )
        except StsKeyChangeSameKey:
            raise KeyChangeSameKey(meter_number=old.meter_number) from None
        except StsError as exc:
            raise TokenRefused(str(exc)) from None

    def issue_key_change(
        self, old: MeterKeyRef, new: MeterKeyRef, *, roll_over: bool
    ) -> list[IssuedToken]:
        old_key, tables = load_vending_key(old.key_ref)
        new_key, _new_tables = load_vending_key(new.key_ref)
        try:
            issued = self._engines[tables].issue_key_change(
                meter_params(old), old_key, meter_params(new), new_key, ro=roll_over
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


_engine: SoftwareStsEngine | None = None


def token_engine() -> SoftwareStsEngine:
    """The process-wide engine (decoder keys are cached inside it)."""
    global _engine
    if _engine is None:
        _engine = SoftwareStsEngine()
    return _engine


def engine_or_default(engine: TokenEngine | None) -> TokenEngine:
    """The engine a use case was given (a test's, an HSM's), else the process-wide one."""
    return engine if engine is not None else token_engine()
