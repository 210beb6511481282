"""A stateful STS meter (decoder) simulator used as the oracle in end-to-end tests."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from gridvend.sts.amount import MAX_CURRENCY_BASE_UNITS, from_base_units
from gridvend.sts.errors import TokenFormatInvalid
from gridvend.sts.keys import (
    DecoderKey,
    EncryptionAlgorithm,
    KeyType,
    MeterKeyParams,
    VendingKey,
    derive_decoder_key,
)
from gridvend.sts.tables import TableSet
from gridvend.sts.tid import KEN_NEVER_EXPIRES, check_tid, is_expired
from gridvend.sts.tokens import (
    ALL_REGISTERS,
    CREDIT_RESOLUTION,
    CreditSubclass,
    DecodedToken,
    ManagementSubclass,
    MeterTestSubclass,
    TokenClass,
    decode,
    extract_class,
    parse_digits,
    split_block,
)

DEFAULT_TID_MEMORY_DEPTH = 50
#: Default capacity of the unit registers (subclasses 0-3) in base units (9 999 999.9 kWh on an
#: 8+1 digit display); above the largest single token, 1 820 162.4 units.
DEFAULT_REGISTER_CAPACITY = 99_999_999
#: Default capacity of the currency registers (subclasses 4-7) in 10^-5 units: the largest amount
#: a currency token carries (5-bit exponent), so any one currency token fits an empty register.
DEFAULT_CURRENCY_REGISTER_CAPACITY = MAX_CURRENCY_BASE_UNITS


class ResultCode(enum.IntEnum):
    """Meter token results; numbers follow one vendor's status codes (Conlog BEC62)."""

    ACCEPTED = 1
    KEY_CHANGE_PENDING = 2  # "1st KCT accepted": a section is stored, others are awaited
    KEY_CHANGED = 3  # "2nd KCT accepted": the last section arrived and the new key is active
    OVERFLOW = 4
    KEY_TYPE_ERROR = 5
    FORMAT_ERROR = 6
    RANGE_ERROR = 7
    FUNCTION_ERROR = 8
    OLD = 9
    USED = 10
    KEY_EXPIRED = 11
    DDTK_ERROR = 12
    CRC_ERROR = 13
    MFR_CODE_ERROR = 14

    @property
    def accepted(self) -> bool:
        return self in (ResultCode.ACCEPTED, ResultCode.KEY_CHANGE_PENDING, ResultCode.KEY_CHANGED)


@dataclass(frozen=True, slots=True)
class Result:
    """What the meter reports for one entered token (no key material)."""

    code: ResultCode
    token_class: int | None = None
    subclass: int | None = None
    tid: int | None = None
    amount_base_units: int | None = None
    amount: Decimal | None = None
    unit: str | None = None
    value_field: int | None = None
    control: int | None = None
    kct_section: int | None = None

    @property
    def accepted(self) -> bool:
        return self.code.accepted


def _result(code: ResultCode, token: DecodedToken | None = None) -> Result:
    if token is None:
        return Result(code)
    return Result(
        code,
        token_class=token.token_class,
        subclass=token.subclass,
        tid=token.tid,
        amount_base_units=token.amount_base_units,
        amount=token.amount,
        unit=token.unit,
        value_field=token.value_field,
        control=token.control,
        kct_section=token.kct_section,
    )


class MeterSimulator:
    """A decoder with state: key and key parameters, TID memory, registers, limits, KCT staging.

    TID rules: a TID already in memory is USED; when the memory is full, a TID below its
    smallest entry is OLD. Accepted TIDs replace the smallest entry once the memory is full.
    A meter leaves the factory with every slot holding ``manufacture_tid`` (the minutes from
    its base date to its manufacture), so that TID is USED and older ones are OLD; without one
    the memory starts empty, as after a roll-over key change. State changes only on acceptance.
    """

    def __init__(
        self,
        decoder_key: DecoderKey,
        *,
        kt: KeyType | int = KeyType.DUTK,
        krn: int = 1,
        ti: int = 1,
        sgc: str = "000000",
        ken: int = KEN_NEVER_EXPIRES,
        mfr_code: int = 0,
        four_digit_mfr: bool = False,
        tid_memory_depth: int = DEFAULT_TID_MEMORY_DEPTH,
        manufacture_tid: int | None = None,
        register_capacity: int = DEFAULT_REGISTER_CAPACITY,
        currency_register_capacity: int = DEFAULT_CURRENCY_REGISTER_CAPACITY,
        sta_tables: TableSet = TableSet.REAL,
    ) -> None:
        if tid_memory_depth < 1:
            raise ValueError("TID memory depth must be at least 1")
        if manufacture_tid is not None:
            check_tid(manufacture_tid)
        self._key = decoder_key
        self.kt = KeyType(kt)
        self.krn = krn
        self.ti = ti
        self.sgc = sgc
        self.ken = ken
        self.mfr_code = mfr_code
        self.four_digit_mfr = four_digit_mfr
        self.tid_memory_depth = tid_memory_depth
        self.sta_tables = sta_tables
        self.register_capacity = register_capacity
        self.currency_register_capacity = currency_register_capacity
        self._tids: list[int] = (
            [] if manufacture_tid is None else [manufacture_tid] * tid_memory_depth
        )
        self._registers: dict[CreditSubclass, int] = dict.fromkeys(CreditSubclass, 0)
        self._pending: dict[int, DecodedToken] = {}
        self.power_limit_w: int | None = None
        self.phase_unbalance_limit_w: int | None = None
        self.tariff_rate: int | None = None
        self.water_meter_factor: int | None = None
        self.tamper = False
        self.last_test_control: int | None = None
        self.last_result: Result | None = None

    @classmethod
    def for_meter(
        cls,
        params: MeterKeyParams,
        vending_key: VendingKey | None = None,
        *,
        decoder_key: DecoderKey | None = None,
        tid_memory_depth: int = DEFAULT_TID_MEMORY_DEPTH,
        manufacture_tid: int | None = None,
        register_capacity: int = DEFAULT_REGISTER_CAPACITY,
        currency_register_capacity: int = DEFAULT_CURRENCY_REGISTER_CAPACITY,
        sta_tables: TableSet = TableSet.REAL,
    ) -> MeterSimulator:
        """A meter loaded with the key for ``params`` (derived from the vending key, or given)."""
        if decoder_key is None:
            if vending_key is None:
                raise ValueError("give a vending key or a decoder key")
            decoder_key = derive_decoder_key(params, vending_key)
        mfr = params.meter.manufacturer_code
        return cls(
            decoder_key,
            kt=params.kt,
            krn=params.krn,
            ti=params.ti,
            sgc=params.sgc,
            ken=params.ken,
            mfr_code=int(mfr),
            four_digit_mfr=len(mfr) == 4,
            tid_memory_depth=tid_memory_depth,
            manufacture_tid=manufacture_tid,
            register_capacity=register_capacity,
            currency_register_capacity=currency_register_capacity,
            sta_tables=sta_tables,
        )

    def __repr__(self) -> str:
        return (
            f"MeterSimulator(kt={self.kt.name}, krn={self.krn}, ti={self.ti}, sgc={self.sgc}, "
            f"ken={self.ken}, tids={len(self._tids)}/{self.tid_memory_depth})"
        )

    # -- readable state -------------------------------------------------------------------

    @property
    def algorithm(self) -> EncryptionAlgorithm:
        return self._key.algorithm

    def has_key(self, key: DecoderKey) -> bool:
        """Whether the meter currently holds ``key`` (compares without exposing either key)."""
        return self._key == key

    @property
    def registers(self) -> Mapping[CreditSubclass, int]:
        """Credit registers in base units (0.1 kWh / 0.1 m³ / 0.1 min / 10^-5 currency)."""
        return MappingProxyType(self._registers)

    def credit(self, commodity: CreditSubclass = CreditSubclass.ELECTRICITY) -> Decimal:
        """Register value in the commodity's unit (e.g. kWh)."""
        return from_base_units(self._registers[commodity], CREDIT_RESOLUTION[commodity])

    def register_capacity_of(self, commodity: CreditSubclass) -> int:
        """Base units the register holds: currency registers count in 10^-5, so hold more."""
        if commodity.is_currency:
            return self.currency_register_capacity
        return self.register_capacity

    @property
    def tid_memory(self) -> tuple[int, ...]:
        return tuple(sorted(self._tids))

    @property
    def pending_key_change_sections(self) -> frozenset[int]:
        return frozenset(self._pending)

    def discard_pending_key_change(self) -> None:
        """What a meter does when its KCT timeout runs out."""
        self._pending.clear()

    def set_tamper(self) -> None:
        """Simulate a detected tamper event (cleared by a ClearTamperCondition token)."""
        self.tamper = True

    def consume(self, commodity: CreditSubclass, base_units: int) -> None:
        """Simulate consumption; the register does not go below zero."""
        self._registers[commodity] = max(0, self._registers[commodity] - base_units)

    # -- token entry ----------------------------------------------------------------------

    def enter(self, token_digits: str) -> Result:
        """Enter a token as on the keypad; state changes only when the token is accepted."""
        result = self._enter(token_digits)
        self.last_result = result
        return result

    def _enter(self, token_digits: str) -> Result:
        try:
            token66 = parse_digits(token_digits)
        except TokenFormatInvalid:
            return Result(ResultCode.FORMAT_ERROR)
        token_class, wire = extract_class(token66)
        digits = f"{token66:020d}"
        if token_class == TokenClass.TEST:
            return self._test_token(split_block(digits, token_class, wire))
        if token_class == TokenClass.RESERVED:
            return Result(ResultCode.FORMAT_ERROR, token_class=token_class)
        token = decode(digits, self._key, self.sta_tables)
        if not token.crc_ok:
            # A token for another meter or a mistyped one lands here: nothing else is readable.
            return Result(ResultCode.CRC_ERROR, token_class=token_class)
        if token_class == TokenClass.CREDIT:
            return self._credit_token(token)
        return self._management_token(token)

    def _test_token(self, token: DecodedToken) -> Result:
        if not token.crc_ok:
            return Result(ResultCode.CRC_ERROR, token_class=token.token_class)
        if token.subclass not in (
            MeterTestSubclass.TWO_DIGIT_MFR,
            MeterTestSubclass.FOUR_DIGIT_MFR,
        ):
            return _result(ResultCode.FUNCTION_ERROR, token)
        # MfrCode 0 is what the compliance tests use for every meter; treated as "any meter".
        if token.mfr_code != 0:
            width_ok = (token.subclass == MeterTestSubclass.FOUR_DIGIT_MFR) == self.four_digit_mfr
            if not width_ok or token.mfr_code != self.mfr_code:
                return _result(ResultCode.MFR_CODE_ERROR, token)
        self.last_test_control = token.control
        return _result(ResultCode.ACCEPTED, token)

    def _tid_check(self, token: DecodedToken) -> ResultCode | None:
        tid = token.tid
        assert tid is not None
        if is_expired(tid, self.ken):
            return ResultCode.KEY_EXPIRED
        if tid in self._tids:
            return ResultCode.USED
        memory_full = len(self._tids) >= self.tid_memory_depth
        if memory_full and tid < min(self._tids):
            return ResultCode.OLD
        return None

    def _record_tid(self, tid: int) -> None:
        if len(self._tids) >= self.tid_memory_depth:
            self._tids.remove(min(self._tids))
        self._tids.append(tid)

    def _credit_token(self, token: DecodedToken) -> Result:
        if token.subclass > CreditSubclass.TIME_CURRENCY:
            return _result(ResultCode.FUNCTION_ERROR, token)
        failure = self._tid_check(token)
        if failure is not None:
            return _result(failure, token)
        if self.kt is KeyType.DDTK:
            return _result(ResultCode.DDTK_ERROR, token)
        commodity = CreditSubclass(token.subclass)
        assert token.amount_base_units is not None and token.tid is not None
        new_value = self._registers[commodity] + token.amount_base_units
        if abs(new_value) > self.register_capacity_of(commodity):
            return _result(ResultCode.OVERFLOW, token)
        self._registers[commodity] = new_value
        self._record_tid(token.tid)
        return _result(ResultCode.ACCEPTED, token)

    def _management_token(self, token: DecodedToken) -> Result:
        if token.kct_section is not None:
            return self._key_change_token(token)
        if token.subclass > ManagementSubclass.SET_WATER_METER_FACTOR:
            return _result(ResultCode.FUNCTION_ERROR, token)
        failure = self._tid_check(token)
        if failure is not None:
            return _result(failure, token)
        sub = ManagementSubclass(token.subclass)
        value = token.value_field
        assert value is not None and token.tid is not None
        if sub is ManagementSubclass.CLEAR_CREDIT:
            if value == ALL_REGISTERS:
                self._registers = dict.fromkeys(CreditSubclass, 0)
            elif value <= CreditSubclass.TIME_CURRENCY:
                self._registers[CreditSubclass(value)] = 0
            else:
                return _result(ResultCode.RANGE_ERROR, token)
        elif sub is ManagementSubclass.SET_MAX_POWER_LIMIT:
            self.power_limit_w = token.amount_base_units
        elif sub is ManagementSubclass.SET_MAX_PHASE_POWER_UNBALANCE:
            self.phase_unbalance_limit_w = token.amount_base_units
        elif sub is ManagementSubclass.SET_TARIFF_RATE:
            self.tariff_rate = value
        elif sub is ManagementSubclass.SET_WATER_METER_FACTOR:
            self.water_meter_factor = value
        elif sub is ManagementSubclass.CLEAR_TAMPER:
            self.tamper = False
        self._record_tid(token.tid)
        return _result(ResultCode.ACCEPTED, token)

    def _key_change_token(self, token: DecodedToken) -> Result:
        section = token.kct_section
        assert section is not None
        needed = {1, 2} if self.algorithm is EncryptionAlgorithm.EA07 else {1, 2, 3, 4}
        if section not in needed:
            return _result(ResultCode.FUNCTION_ERROR, token)
        if section == 1 and token.kt == KeyType.DITK and self.kt is not KeyType.DITK:
            # Only an initialisation-key meter may be (re)loaded with an initialisation key.
            return _result(ResultCode.KEY_TYPE_ERROR, token)
        self._pending[section] = token
        if set(self._pending) != needed:
            return _result(ResultCode.KEY_CHANGE_PENDING, token)
        self._apply_key_change()
        return _result(ResultCode.KEY_CHANGED, token)

    def _apply_key_change(self) -> None:
        s1, s2 = self._pending[1], self._pending[2]
        words = [s1.key_word, s2.key_word]
        if self.algorithm is EncryptionAlgorithm.EA11:
            s3, s4 = self._pending[3], self._pending[4]
            words = [s1.key_word, s3.key_word, s4.key_word, s2.key_word]
            assert s3.sgc_part is not None and s4.sgc_part is not None
            self.sgc = f"{s4.sgc_part << 12 | s3.sgc_part:06d}"
        new_key = b"".join(w.to_bytes(4, "big") for w in words if w is not None)
        assert s1.ken_nibble is not None and s2.ken_nibble is not None
        assert s1.krn is not None and s1.kt is not None and s2.ti is not None
        self._key = DecoderKey(new_key)
        self.ken = s1.ken_nibble << 4 | s2.ken_nibble
        self.krn = s1.krn
        self.kt = KeyType(s1.kt)
        self.ti = s2.ti
        if s1.ro:
            # Roll-over: TIDs restart from a new base date, so the old memory would block them.
            self._tids.clear()
        self._pending.clear()
