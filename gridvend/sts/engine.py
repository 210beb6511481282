"""The token engine the vending core calls: credit, engineering and key-change tokens."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TypedDict, Unpack

from gridvend.sts.amount import (
    decode_amount,
    decode_currency_amount,
    encode_amount,
    encode_currency_amount,
    from_base_units,
    parse_amount,
    to_base_units,
)
from gridvend.sts.errors import AlgorithmUnsupported, KeyChangeSameKey, ParameterInvalid
from gridvend.sts.keys import DecoderKey, DecoderKeyCache, MeterKeyParams, VendingKey
from gridvend.sts.tables import TableSet
from gridvend.sts.tid import KEN_NEVER_EXPIRES, check_not_expired, check_tid, tid_for
from gridvend.sts.tokens import (
    ALL_REGISTERS,
    CREDIT_RESOLUTION,
    CREDIT_UNIT,
    CreditSubclass,
    DecodedToken,
    EncodedToken,
    ManagementSubclass,
    MeterTestSubclass,
    Payload,
    TokenClass,
    credit_payload,
    currency_payload,
    decode,
    encode,
    group_digits,
    key_change_payloads,
    management_payload,
    meter_test_payload,
)

RndSource = Callable[[], int]


class TokenTiming(TypedDict, total=False):
    """When a meter-specific token is issued: ``tid`` or ``issued_at`` (one of them), and RND.

    Shared by every ``StsEngine.issue_*`` method so the three arguments are spelled once.
    """

    tid: int | None
    issued_at: datetime | None
    rnd: int | None


class _Sealing(TypedDict):
    """What every encrypted token of one meter is built with, besides its own value."""

    key: DecoderKey
    tid: int
    rnd: int
    ken: int
    tables: TableSet


def random_rnd() -> int:
    return secrets.randbelow(16)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A generated token and the decoded fields a vending record keeps (no key material)."""

    digits: str
    token_class: TokenClass
    subclass: int
    crc: int
    tid: int | None = None
    rnd: int | None = None
    value_field: int | None = None
    amount_base_units: int | None = None
    amount: Decimal | None = None
    requested_amount: Decimal | None = None
    unit: str | None = None
    kct_section: int | None = None
    ro: bool | None = None

    @property
    def display(self) -> str:
        """Groups of four digits, as printed on receipts."""
        return group_digits(self.digits)


def _issued(
    token: EncodedToken,
    *,
    tid: int | None = None,
    rnd: int | None = None,
    value_field: int | None = None,
    amount_base_units: int | None = None,
    amount: Decimal | None = None,
    requested_amount: Decimal | None = None,
    unit: str | None = None,
    kct_section: int | None = None,
    ro: bool | None = None,
) -> IssuedToken:
    return IssuedToken(
        token.digits,
        token.token_class,
        token.subclass,
        token.crc,
        tid=tid,
        rnd=rnd,
        value_field=value_field,
        amount_base_units=amount_base_units,
        amount=amount,
        requested_amount=requested_amount,
        unit=unit,
        kct_section=kct_section,
        ro=ro,
    )


def _rnd(value: int | None, source: RndSource) -> int:
    rnd = source() if value is None else value
    if isinstance(rnd, bool) or not isinstance(rnd, int) or not 0 <= rnd <= 15:
        raise ParameterInvalid("RND must be an integer in 0..15")
    return rnd


def credit_token(
    key: DecoderKey,
    *,
    amount: Decimal | int | str,
    tid: int,
    rnd: int,
    commodity: CreditSubclass = CreditSubclass.ELECTRICITY,
    ken: int = KEN_NEVER_EXPIRES,
    tables: TableSet = TableSet.REAL,
) -> IssuedToken:
    """Class 0 credit token; ``amount`` is in the commodity's unit (kWh, m³, currency units).

    The amount is rounded up to the next value the token can carry (customer's favour);
    ``IssuedToken.amount`` is what the meter will add.
    """
    check_tid(tid)
    check_not_expired(tid, ken)
    commodity = CreditSubclass(commodity)
    resolution = CREDIT_RESOLUTION[commodity]
    requested = parse_amount(amount)
    base_units = to_base_units(requested, resolution)
    payload: Payload
    if commodity.is_currency:
        s_and_e, field = encode_currency_amount(base_units)
        payload = currency_payload(commodity, s_and_e=s_and_e, tid=tid, amount_field=field)
        transferred = decode_currency_amount(s_and_e, field)
        rnd_out: int | None = None
    else:
        field = encode_amount(base_units)
        payload = credit_payload(commodity, rnd=rnd, tid=tid, amount_field=field)
        transferred = decode_amount(field)
        rnd_out = rnd
    token = encode(payload, key, tables)
    return _issued(
        token,
        tid=tid,
        rnd=rnd_out,
        value_field=field,
        amount_base_units=transferred,
        amount=from_base_units(transferred, resolution),
        requested_amount=requested,
        unit=CREDIT_UNIT[commodity],
    )


def management_token(
    key: DecoderKey,
    *,
    subclass: ManagementSubclass | int,
    value: int,
    tid: int,
    rnd: int,
    ken: int = KEN_NEVER_EXPIRES,
    tables: TableSet = TableSet.REAL,
) -> IssuedToken:
    """Class 2 register-style token (MPL, clear credit, tariff rate, clear tamper, MPPUL, water)."""
    check_tid(tid)
    check_not_expired(tid, ken)
    token = encode(management_payload(int(subclass), rnd=rnd, tid=tid, value=value), key, tables)
    if subclass in (
        ManagementSubclass.SET_MAX_POWER_LIMIT,
        ManagementSubclass.SET_MAX_PHASE_POWER_UNBALANCE,
    ):
        watts = decode_amount(value)
        return _issued(
            token,
            tid=tid,
            rnd=rnd,
            value_field=value,
            amount_base_units=watts,
            amount=Decimal(watts),
            unit="W",
        )
    return _issued(token, tid=tid, rnd=rnd, value_field=value)


def power_limit_token(
    key: DecoderKey,
    *,
    watts: int,
    tid: int,
    rnd: int,
    phase_unbalance: bool = False,
    ken: int = KEN_NEVER_EXPIRES,
    tables: TableSet = TableSet.REAL,
) -> IssuedToken:
    """MPL (or MPPUL) token; the limit is rounded up to the next representable number of watts."""
    subclass = (
        ManagementSubclass.SET_MAX_PHASE_POWER_UNBALANCE
        if phase_unbalance
        else ManagementSubclass.SET_MAX_POWER_LIMIT
    )
    issued = management_token(
        key,
        subclass=subclass,
        value=encode_amount(watts),
        tid=tid,
        rnd=rnd,
        ken=ken,
        tables=tables,
    )
    return replace(issued, requested_amount=Decimal(watts))


def meter_test_token(
    *, control: int, mfr_code: int = 0, four_digit_mfr: bool = False
) -> IssuedToken:
    """Class 1 test/display token (not encrypted, no TID); ``control`` is an opaque bit mask."""
    subclass = (
        MeterTestSubclass.FOUR_DIGIT_MFR if four_digit_mfr else MeterTestSubclass.TWO_DIGIT_MFR
    )
    token = encode(meter_test_payload(subclass, control=control, mfr_code=mfr_code), None)
    return _issued(token, value_field=control)


_SAME_KEY_MESSAGE = (
    "the new decoder key is the same as the current one; change the key revision (KRN) or the "
    "vending key as well (DKGA02 does not take the base date into the key)"
)


def key_change_tokens(
    current_key: DecoderKey,
    new_key: DecoderKey,
    *,
    ken: int,
    krn: int,
    kt: int,
    ti: int,
    sgc: str,
    ro: bool,
    tables: TableSet = TableSet.REAL,
) -> list[IssuedToken]:
    """Key-change sections (2 for STA, 4 for MISTY1), each encrypted with the current key.

    Refuses (KEY_CHANGE_SAME_KEY) a new key equal to the current one: with RO = 1 the meter
    would clear its TID memory while every token it has accepted still decrypts, so they would
    all credit again; without RO such a change does nothing a key change is for.
    """
    if current_key.algorithm is not new_key.algorithm:
        raise AlgorithmUnsupported("key-change tokens cannot switch the encryption algorithm")
    if current_key == new_key:
        raise KeyChangeSameKey(_SAME_KEY_MESSAGE)
    payloads = key_change_payloads(new_key, ken=ken, krn=krn, kt=kt, ti=ti, ro=ro, sgc=sgc)
    issued = []
    for section, payload in enumerate(payloads, start=1):
        token = encode(payload, current_key, tables)
        issued.append(_issued(token, kct_section=section, ro=ro))
    return issued


class StsEngine:
    """Issues tokens for meters from their key parameters and vending key.

    Decoder keys (and their cipher schedules) are cached per (params, vending key), so repeated
    tokens for a meter skip derivation. RND comes from ``secrets`` unless a source is injected.
    """

    def __init__(
        self,
        *,
        sta_tables: TableSet = TableSet.REAL,
        cache: DecoderKeyCache | None = None,
        rnd_source: RndSource | None = None,
    ) -> None:
        self.sta_tables = sta_tables
        self.cache = cache if cache is not None else DecoderKeyCache()
        self._rnd_source = rnd_source or random_rnd

    def __repr__(self) -> str:
        return f"StsEngine(sta_tables={self.sta_tables.value}, cache={self.cache!r})"

    def decoder_key(self, params: MeterKeyParams, vending_key: VendingKey) -> DecoderKey:
        return self.cache.get(params, vending_key)

    def resolve_tid(
        self, params: MeterKeyParams, *, tid: int | None = None, issued_at: datetime | None = None
    ) -> int:
        """The TID to use: given directly, or minutes from the params' base date to ``issued_at``.

        Refuses TIDs beyond the key's expiry (KEN). Uniqueness per meter is the caller's job.
        """
        if (tid is None) == (issued_at is None):
            raise ParameterInvalid("give exactly one of tid or issued_at")
        if tid is not None:
            resolved = check_tid(tid)
        else:
            assert issued_at is not None
            resolved = tid_for(issued_at, params.base_date)
        check_not_expired(resolved, params.ken)
        return resolved

    def issue_credit(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        amount: Decimal | int | str,
        commodity: CreditSubclass = CreditSubclass.ELECTRICITY,
        **when: Unpack[TokenTiming],
    ) -> IssuedToken:
        """Credit token; ``amount`` in kWh / m³ / minutes (or currency units for subclasses 4-7)."""
        sealing = self._sealing(params, vending_key, **when)
        return credit_token(amount=amount, commodity=commodity, **sealing)

    def issue_management(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        subclass: ManagementSubclass,
        value: int,
        **when: Unpack[TokenTiming],
    ) -> IssuedToken:
        """Any register-style class 2 token with a raw 16-bit value."""
        sealing = self._sealing(params, vending_key, **when)
        return management_token(subclass=subclass, value=value, **sealing)

    def issue_set_power_limit(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        watts: int,
        **when: Unpack[TokenTiming],
    ) -> IssuedToken:
        return power_limit_token(watts=watts, **self._sealing(params, vending_key, **when))

    def issue_set_phase_unbalance_limit(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        watts: int,
        **when: Unpack[TokenTiming],
    ) -> IssuedToken:
        sealing = self._sealing(params, vending_key, **when)
        return power_limit_token(watts=watts, phase_unbalance=True, **sealing)

    def issue_clear_credit(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        register: int = ALL_REGISTERS,
        **when: Unpack[TokenTiming],
    ) -> IssuedToken:
        """Clear credit: register 0xFFFF = all, else the credit subclass number (0 electricity)."""
        subclass = ManagementSubclass.CLEAR_CREDIT
        return self.issue_management(params, vending_key, subclass=subclass, value=register, **when)

    def issue_clear_tamper(
        self, params: MeterKeyParams, vending_key: VendingKey, **when: Unpack[TokenTiming]
    ) -> IssuedToken:
        subclass = ManagementSubclass.CLEAR_TAMPER
        return self.issue_management(params, vending_key, subclass=subclass, value=0, **when)

    def issue_set_tariff_rate(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        rate: int,
        **when: Unpack[TokenTiming],
    ) -> IssuedToken:
        """SetTariffRate: the standard reserves the rate field's meaning; it is sent as given."""
        subclass = ManagementSubclass.SET_TARIFF_RATE
        return self.issue_management(params, vending_key, subclass=subclass, value=rate, **when)

    def issue_set_water_meter_factor(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        factor: int,
        **when: Unpack[TokenTiming],
    ) -> IssuedToken:
        subclass = ManagementSubclass.SET_WATER_METER_FACTOR
        return self.issue_management(params, vending_key, subclass=subclass, value=factor, **when)

    def _sealing(
        self,
        params: MeterKeyParams,
        vending_key: VendingKey,
        *,
        tid: int | None = None,
        issued_at: datetime | None = None,
        rnd: int | None = None,
    ) -> _Sealing:
        return _Sealing(
            key=self.decoder_key(params, vending_key),
            tid=self.resolve_tid(params, tid=tid, issued_at=issued_at),
            rnd=_rnd(rnd, self._rnd_source),
            ken=params.ken,
            tables=self.sta_tables,
        )

    def issue_test(
        self, *, control: int, mfr_code: int = 0, four_digit_mfr: bool = False
    ) -> IssuedToken:
        """Class 1 test/display token; not meter-specific and not encrypted."""
        return meter_test_token(control=control, mfr_code=mfr_code, four_digit_mfr=four_digit_mfr)

    def check_key_change(
        self,
        old_params: MeterKeyParams,
        old_vending_key: VendingKey,
        new_params: MeterKeyParams,
        new_vending_key: VendingKey,
    ) -> tuple[DecoderKey, DecoderKey]:
        """The (current, new) decoder keys of a key change, or why it cannot be made.

        The keys are compared, not the parameters: DKGA02 derives from the vending key, PAN, KT,
        SGC, TI and KRN but not the base date or KEN, so a roll-over (new base date) under
        DKGA02 needs a new KRN or vending key too; DKGA04 also takes the base date and EA. Two
        key references holding the same vending key are caught the same way.
        """
        if old_params.meter != new_params.meter:
            raise ParameterInvalid("a key change keeps the meter number")
        if old_params.ea is not new_params.ea:
            raise AlgorithmUnsupported("key-change tokens cannot switch the encryption algorithm")
        current_key = self.decoder_key(old_params, old_vending_key)
        new_key = self.decoder_key(new_params, new_vending_key)
        if current_key == new_key:
            raise KeyChangeSameKey(_SAME_KEY_MESSAGE)
        return current_key, new_key

    def issue_key_change(
        self,
        old_params: MeterKeyParams,
        old_vending_key: VendingKey,
        new_params: MeterKeyParams,
        new_vending_key: VendingKey,
        *,
        ro: bool | None = None,
    ) -> list[IssuedToken]:
        """Key change from the old to the new key parameters, encrypted with the old key.

        Returns 2 tokens (STA) or 4 (MISTY1), to be entered in that order. ``ro`` (roll-over: the
        meter clears its TID memory) defaults to True exactly when the base date changes.
        Refused as in :meth:`check_key_change`.
        """
        current_key, new_key = self.check_key_change(
            old_params, old_vending_key, new_params, new_vending_key
        )
        roll_over = (old_params.base_date is not new_params.base_date) if ro is None else ro
        return key_change_tokens(
            current_key,
            new_key,
            ken=new_params.ken,
            krn=new_params.krn,
            kt=int(new_params.kt),
            ti=new_params.ti,
            sgc=new_params.sgc,
            ro=roll_over,
            tables=self.sta_tables,
        )

    def decode(self, params: MeterKeyParams, vending_key: VendingKey, digits: str) -> DecodedToken:
        """Decode a token as this meter would (CRC result in ``crc_ok``)."""
        return decode(digits, self.decoder_key(params, vending_key), self.sta_tables)
