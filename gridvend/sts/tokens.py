"""Token data blocks: 66-bit layouts, CRC, encryption, class-bit transposition, 20 digits."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from decimal import Decimal

from gridvend.sts.amount import decode_amount, decode_currency_amount, from_base_units
from gridvend.sts.crc import token_crc
from gridvend.sts.errors import ParameterInvalid, TokenFormatInvalid
from gridvend.sts.keys import DecoderKey
from gridvend.sts.tables import TableSet
from gridvend.sts.tid import check_tid

MASK64 = (1 << 64) - 1
TOKEN66_LIMIT = 1 << 66
TOKEN_DIGITS = 20


class TokenClass(enum.IntEnum):
    CREDIT = 0
    TEST = 1
    MANAGEMENT = 2
    RESERVED = 3


class CreditSubclass(enum.IntEnum):
    ELECTRICITY = 0
    WATER = 1
    GAS = 2
    TIME = 3
    ELECTRICITY_CURRENCY = 4
    WATER_CURRENCY = 5
    GAS_CURRENCY = 6
    TIME_CURRENCY = 7

    @property
    def is_currency(self) -> bool:
        return self >= 4


class MeterTestSubclass(enum.IntEnum):
    TWO_DIGIT_MFR = 0
    FOUR_DIGIT_MFR = 1


class ManagementSubclass(enum.IntEnum):
    SET_MAX_POWER_LIMIT = 0
    CLEAR_CREDIT = 1
    SET_TARIFF_RATE = 2
    KEY_CHANGE_1 = 3
    KEY_CHANGE_2 = 4
    CLEAR_TAMPER = 5
    SET_MAX_PHASE_POWER_UNBALANCE = 6
    SET_WATER_METER_FACTOR = 7
    KEY_CHANGE_3 = 8
    KEY_CHANGE_4 = 9


#: ClearCredit register value meaning "every credit register".
ALL_REGISTERS = 0xFFFF


#: Base-unit resolution per credit subclass (0.1 kWh, 0.1 m³, 0.1 m³, 0.1 min; currency 10^-5).
CREDIT_RESOLUTION = {
    CreditSubclass.ELECTRICITY: Decimal("0.1"),
    CreditSubclass.WATER: Decimal("0.1"),
    CreditSubclass.GAS: Decimal("0.1"),
    CreditSubclass.TIME: Decimal("0.1"),
    CreditSubclass.ELECTRICITY_CURRENCY: Decimal("0.00001"),
    CreditSubclass.WATER_CURRENCY: Decimal("0.00001"),
    CreditSubclass.GAS_CURRENCY: Decimal("0.00001"),
    CreditSubclass.TIME_CURRENCY: Decimal("0.00001"),
}
CREDIT_UNIT = {
    CreditSubclass.ELECTRICITY: "kWh",
    CreditSubclass.WATER: "m3",
    CreditSubclass.GAS: "m3",
    CreditSubclass.TIME: "min",
    CreditSubclass.ELECTRICITY_CURRENCY: "currency",
    CreditSubclass.WATER_CURRENCY: "currency",
    CreditSubclass.GAS_CURRENCY: "currency",
    CreditSubclass.TIME_CURRENCY: "currency",
}


def _check(value: int, bits: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise ParameterInvalid(f"{what} must be an integer of at most {bits} bits")
    return value


@dataclass(frozen=True, slots=True)
class Payload:
    """The 48 bits above the CRC (bits 63..16 of the block) and the class they belong to."""

    token_class: TokenClass
    bits: int
    currency_crc: bool = False

    @property
    def subclass(self) -> int:
        return self.bits >> 44

    def block(self) -> int:
        """The plaintext 64-bit block: payload ‖ CRC (CRC covers the class bits too)."""
        first50 = int(self.token_class) << 48 | self.bits
        return self.bits << 16 | token_crc(first50, currency=self.currency_crc)


def credit_payload(subclass: int, *, rnd: int, tid: int, amount_field: int) -> Payload:
    """Class 0 subclasses 0-3: SubClass ‖ RND ‖ TID ‖ Amount."""
    _check(subclass, 4, "subclass")
    if subclass >= 4:
        raise ParameterInvalid("currency subclasses use currency_payload")
    return _register_payload(TokenClass.CREDIT, subclass, rnd, tid, amount_field)


def currency_payload(subclass: int, *, s_and_e: int, tid: int, amount_field: int) -> Payload:
    """Class 0 subclasses 4-7 (low confidence): SubClass ‖ S&E ‖ TID ‖ Amount, with CRC_C."""
    if subclass not in (4, 5, 6, 7):
        raise ParameterInvalid("currency subclasses are 4..7")
    _check(s_and_e, 4, "S&E")
    check_tid(tid)
    _check(amount_field, 16, "amount field")
    bits = subclass << 44 | s_and_e << 40 | tid << 16 | amount_field
    return Payload(TokenClass.CREDIT, bits, currency_crc=True)


def management_payload(subclass: int, *, rnd: int, tid: int, value: int) -> Payload:
    """Class 2 register-style subclasses (0, 1, 2, 5, 6, 7): SubClass ‖ RND ‖ TID ‖ Value."""
    if subclass in (3, 4, 8, 9):
        raise ParameterInvalid("key-change sections use key_change_payload")
    return _register_payload(TokenClass.MANAGEMENT, subclass, rnd, tid, value)


def _register_payload(cls: TokenClass, subclass: int, rnd: int, tid: int, value: int) -> Payload:
    _check(subclass, 4, "subclass")
    _check(rnd, 4, "RND")
    check_tid(tid)
    _check(value, 16, "value field")
    return Payload(cls, subclass << 44 | rnd << 40 | tid << 16 | value)


def meter_test_payload(subclass: int, *, control: int, mfr_code: int) -> Payload:
    """Class 1: subclass 0 has 36 control bits + 8-bit MfrCode, subclass 1 has 28 + 16."""
    if subclass == MeterTestSubclass.TWO_DIGIT_MFR:
        _check(control, 36, "control")
        _check(mfr_code, 8, "manufacturer code")
        return Payload(TokenClass.TEST, control << 8 | mfr_code)
    if subclass == MeterTestSubclass.FOUR_DIGIT_MFR:
        _check(control, 28, "control")
        _check(mfr_code, 16, "manufacturer code")
        return Payload(TokenClass.TEST, 1 << 44 | control << 16 | mfr_code)
    raise ParameterInvalid("test token subclass must be 0 (2-digit) or 1 (4-digit MfrCode)")


def key_change_section1(*, kenho: int, krn: int, ro: int, res: int, kt: int, nkho: int) -> Payload:
    bits = (
        3 << 44
        | _check(kenho, 4, "KENHO") << 40
        | _check(krn, 4, "KRN") << 36
        | _check(ro, 1, "RO") << 35
        | _check(res, 1, "Res") << 34
        | _check(kt, 2, "KT") << 32
        | _check(nkho, 32, "key word")
    )
    return Payload(TokenClass.MANAGEMENT, bits)


def key_change_section2(*, kenlo: int, ti: int, nklo: int) -> Payload:
    bits = (
        4 << 44
        | _check(kenlo, 4, "KENLO") << 40
        | _check(ti, 8, "TI") << 32
        | _check(nklo, 32, "key word")
    )
    return Payload(TokenClass.MANAGEMENT, bits)


def key_change_section3(*, sgc_low12: int, key_word: int) -> Payload:
    bits = 8 << 44 | _check(sgc_low12, 12, "SGC low bits") << 32 | _check(key_word, 32, "key word")
    return Payload(TokenClass.MANAGEMENT, bits)


def key_change_section4(*, sgc_high12: int, key_word: int) -> Payload:
    bits = (
        9 << 44 | _check(sgc_high12, 12, "SGC high bits") << 32 | _check(key_word, 32, "key word")
    )
    return Payload(TokenClass.MANAGEMENT, bits)


def key_words(new_key: DecoderKey) -> list[int]:
    """The new key as 32-bit words, most significant first (2 for STA, 4 for MISTY1)."""
    raw = new_key.secret_bytes()
    return [int.from_bytes(raw[i : i + 4], "big") for i in range(0, len(raw), 4)]


def key_change_payloads(
    new_key: DecoderKey, *, ken: int, krn: int, kt: int, ti: int, ro: bool, sgc: str
) -> list[Payload]:
    """All sections for a key change, in section order (1, 2 and for MISTY1 keys 3, 4)."""
    _check(ken, 8, "KEN")
    words = key_words(new_key)
    sections = [
        key_change_section1(kenho=ken >> 4, krn=krn, ro=int(ro), res=0, kt=kt, nkho=words[0]),
        key_change_section2(kenlo=ken & 15, ti=ti, nklo=words[-1]),
    ]
    if len(words) == 4:
        sgc_value = int(sgc)
        if not 0 <= sgc_value < 1 << 24:
            raise ParameterInvalid("SGC does not fit 24 bits")
        sections.append(key_change_section3(sgc_low12=sgc_value & 0xFFF, key_word=words[1]))
        sections.append(key_change_section4(sgc_high12=sgc_value >> 12, key_word=words[2]))
    return sections


def insert_class(token_class: int, block: int) -> int:
    """Class-bit transposition: class bits go to bits 28/27, the bits they displace to 65/64."""
    displaced = block >> 27 & 3
    return displaced << 64 | (block & ~(3 << 27) & MASK64) | (token_class & 3) << 27


def extract_class(token66: int) -> tuple[int, int]:
    """Inverse of :func:`insert_class`: (class, 64-bit block with its bits 28/27 restored)."""
    token_class = token66 >> 27 & 3
    block = (token66 & MASK64 & ~(3 << 27)) | (token66 >> 64 & 3) << 27
    return token_class, block


def format_digits(token66: int) -> str:
    if not 0 <= token66 < TOKEN66_LIMIT:
        raise TokenFormatInvalid("token value must be below 2^66")
    return f"{token66:020d}"


def parse_digits(text: str) -> int:
    """Parse 20 digits (spaces and dashes allowed between groups) into the 66-bit value."""
    cleaned = text.replace(" ", "").replace("-", "")
    if len(cleaned) != TOKEN_DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        raise TokenFormatInvalid("a token is 20 decimal digits")
    value = int(cleaned)
    if value >= TOKEN66_LIMIT:
        raise TokenFormatInvalid("token value exceeds 66 bits")
    return value


def group_digits(digits: str) -> str:
    """Display form: groups of four digits."""
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


@dataclass(frozen=True, slots=True)
class EncodedToken:
    digits: str
    token_class: TokenClass
    subclass: int
    # The plaintext block of a key-change token holds half the new key: keep it out of reprs.
    block: int = field(repr=False)
    crc: int

    @property
    def display(self) -> str:
        return group_digits(self.digits)


def encode(
    payload: Payload, key: DecoderKey | None, tables: TableSet = TableSet.REAL
) -> EncodedToken:
    """CRC, encrypt (classes 0 and 2), transpose and render a payload as 20 digits."""
    block = payload.block()
    if payload.token_class is TokenClass.TEST:
        wire = block
    else:
        if key is None:
            raise ParameterInvalid("classes 0 and 2 need a decoder key")
        wire = key.cipher(tables).encrypt_block(block)
    digits = format_digits(insert_class(payload.token_class, wire))
    return EncodedToken(digits, payload.token_class, payload.subclass, block, block & 0xFFFF)


@dataclass(frozen=True, slots=True)
class DecodedToken:
    """Every field of a token as read back; fields that the layout does not carry are None."""

    digits: str
    token_class: int
    subclass: int
    block: int = field(repr=False)
    crc: int
    crc_ok: bool
    rnd: int | None = None
    tid: int | None = None
    value_field: int | None = None
    amount_base_units: int | None = None
    amount: Decimal | None = None
    unit: str | None = None
    s_and_e: int | None = None
    control: int | None = None
    mfr_code: int | None = None
    kct_section: int | None = None
    ken_nibble: int | None = None
    krn: int | None = None
    ro: int | None = None
    res: int | None = None
    kt: int | None = None
    ti: int | None = None
    sgc_part: int | None = None
    key_word: int | None = field(default=None, repr=False)

    def fields(self) -> dict[str, object]:
        """Non-empty fields for display, without the new-key material of key-change tokens."""
        hidden = {"key_word", "block"} if self.kct_section is not None else {"key_word"}
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is not None and name not in hidden:
                out[name] = value
        return out


def decode(digits: str, key: DecoderKey | None, tables: TableSet = TableSet.REAL) -> DecodedToken:
    """Parse, decrypt (classes 0 and 2) and split a token; the CRC result is in ``crc_ok``."""
    token66 = parse_digits(digits)
    token_class, wire = extract_class(token66)
    if token_class in (TokenClass.CREDIT, TokenClass.MANAGEMENT):
        if key is None:
            raise ParameterInvalid("classes 0 and 2 need a decoder key")
        block = key.cipher(tables).decrypt_block(wire)
    else:
        block = wire
    return split_block(f"{token66:020d}", token_class, block)


def split_block(digits: str, token_class: int, block: int) -> DecodedToken:
    bits = block >> 16
    crc = block & 0xFFFF
    subclass = bits >> 44
    currency = token_class == TokenClass.CREDIT and 4 <= subclass <= 7
    crc_ok = token_crc(token_class << 48 | bits, currency=currency) == crc
    common = DecodedToken(digits, token_class, subclass, block, crc, crc_ok)
    low16 = bits & 0xFFFF
    tid = bits >> 16 & 0xFFFFFF
    nibble = bits >> 40 & 0xF
    if token_class == TokenClass.CREDIT and subclass < 4:
        base = decode_amount(low16)
        sub = CreditSubclass(subclass)
        return replace(
            common,
            rnd=nibble,
            tid=tid,
            value_field=low16,
            amount_base_units=base,
            amount=from_base_units(base, CREDIT_RESOLUTION[sub]),
            unit=CREDIT_UNIT[sub],
        )
    if currency:
        base = decode_currency_amount(nibble, low16)
        return replace(
            common,
            s_and_e=nibble,
            tid=tid,
            value_field=low16,
            amount_base_units=base,
            amount=from_base_units(base, CREDIT_RESOLUTION[CreditSubclass(subclass)]),
            unit="currency",
        )
    if token_class == TokenClass.TEST and subclass == MeterTestSubclass.TWO_DIGIT_MFR:
        return replace(
            common,
            control=bits >> 8 & (1 << 36) - 1,
            mfr_code=bits & 0xFF,
        )
    if token_class == TokenClass.TEST and subclass == MeterTestSubclass.FOUR_DIGIT_MFR:
        return replace(
            common,
            control=bits >> 16 & (1 << 28) - 1,
            mfr_code=bits & 0xFFFF,
        )
    if token_class == TokenClass.MANAGEMENT and subclass == ManagementSubclass.KEY_CHANGE_1:
        return replace(
            common,
            kct_section=1,
            ken_nibble=nibble,
            krn=bits >> 36 & 0xF,
            ro=bits >> 35 & 1,
            res=bits >> 34 & 1,
            kt=bits >> 32 & 3,
            key_word=bits & 0xFFFFFFFF,
        )
    if token_class == TokenClass.MANAGEMENT and subclass == ManagementSubclass.KEY_CHANGE_2:
        return replace(
            common,
            kct_section=2,
            ken_nibble=nibble,
            ti=bits >> 32 & 0xFF,
            key_word=bits & 0xFFFFFFFF,
        )
    if token_class == TokenClass.MANAGEMENT and subclass in (8, 9):
        return replace(
            common,
            kct_section=3 if subclass == 8 else 4,
            sgc_part=bits >> 32 & 0xFFF,
            key_word=bits & 0xFFFFFFFF,
        )
    if token_class == TokenClass.MANAGEMENT and subclass in (0, 6):
        base = decode_amount(low16)
        return replace(
            common,
            rnd=nibble,
            tid=tid,
            value_field=low16,
            amount_base_units=base,
            amount=Decimal(base),
            unit="W",
        )
    if token_class == TokenClass.MANAGEMENT and subclass <= 7:
        return replace(common, rnd=nibble, tid=tid, value_field=low16)
    # Reserved or proprietary layouts: only the common fields are meaningful.
    return common
