"""Vending and decoder keys, meter key parameters and decoder key generation (DKGA02, DKGA04)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, TypeVar

from Crypto.Cipher import DES

from gridvend.sts.errors import AlgorithmUnsupported, KeyInvalid, ParameterInvalid
from gridvend.sts.identity import MeterNumber, Pan, parse_meter_or_pan
from gridvend.sts.misty1 import Misty1Cipher
from gridvend.sts.sta import StaCipher
from gridvend.sts.tables import TableSet
from gridvend.sts.tid import KEN_NEVER_EXPIRES, BaseDate


class BlockCipher(Protocol):
    def encrypt_block(self, block: int) -> int: ...

    def decrypt_block(self, block: int) -> int: ...


class KeyType(enum.IntEnum):
    DITK = 0  # initialisation
    DDTK = 1  # default
    DUTK = 2  # unique (normal meters)
    DCTK = 3  # common


_Numbered = TypeVar("_Numbered", bound=enum.Enum)


def _numbered_member(
    cls: type[_Numbered], value: _Numbered | str | int, *, prefix: str, refusal: str
) -> _Numbered:
    """The member for ``7``, ``"07"`` or ``"EA07"`` alike: STS names algorithms by two digits."""
    if isinstance(value, cls):
        return value
    text = str(value).strip().upper().removeprefix(prefix).zfill(2)
    for member in cls:
        if member.value == text:
            return member
    raise AlgorithmUnsupported(refusal)


class EncryptionAlgorithm(enum.Enum):
    EA07 = "07"  # STA, 64-bit keys
    EA11 = "11"  # MISTY1, 128-bit keys

    @property
    def key_bytes(self) -> int:
        return 8 if self is EncryptionAlgorithm.EA07 else 16

    @classmethod
    def parse(cls, value: EncryptionAlgorithm | str | int) -> EncryptionAlgorithm:
        refusal = "encryption algorithm must be EA07 (STA) or EA11 (MISTY1)"
        return _numbered_member(cls, value, prefix="EA", refusal=refusal)


class Dkga(enum.Enum):
    DKGA02 = "02"
    DKGA04 = "04"

    @classmethod
    def parse(cls, value: Dkga | str | int) -> Dkga:
        refusal = "decoder key generation algorithm must be DKGA02 or DKGA04"
        return _numbered_member(cls, value, prefix="DKGA", refusal=refusal)


def _parse_hex(text: str, what: str) -> bytes:
    cleaned = "".join(text.split())
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        # Never echo the input: it is (or is meant to be) key material.
        raise KeyInvalid(f"{what} must be hexadecimal") from None


class _SecretBytes:
    """Shared behaviour of key holders: constant-time equality and redacted text forms."""

    __slots__ = ("_hash", "_key")
    _label = "Key"

    def __init__(self, key: bytes) -> None:
        self._key = bytes(key)
        # Hash a digest, not the key, and only once: keys are cache keys on the hot path.
        self._hash = hash((self._label, hashlib.sha256(self._key).digest()))

    def __repr__(self) -> str:
        return f"{self._label}(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _SecretBytes)
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return self._hash

    def __len__(self) -> int:
        return len(self._key)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the key into caches or task queues without anyone noticing.
        raise TypeError(f"{self._label} objects cannot be pickled")

    def secret_bytes(self) -> bytes:
        """The raw key; call only where the key must leave this object (derivation, HSM export)."""
        return self._key


class VendingKey(_SecretBytes):
    """A vending key (VUDK/VDDK/VCDK): 8 bytes for DKGA02, 20 bytes (160 bits) for DKGA04."""

    __slots__ = ()
    _label = "VendingKey"

    def __init__(self, key: bytes) -> None:
        if not 8 <= len(key) <= 64:
            raise KeyInvalid("vending key must be 8 to 64 bytes")
        super().__init__(key)

    @classmethod
    def from_hex(cls, text: str) -> VendingKey:
        return cls(_parse_hex(text, "vending key"))


class DecoderKey(_SecretBytes):
    """A decoder key in natural byte order: 8 bytes (EA07/STA) or 16 bytes (EA11/MISTY1)."""

    __slots__ = ("_ciphers",)
    _label = "DecoderKey"

    def __init__(self, key: bytes) -> None:
        if len(key) not in (8, 16):
            raise KeyInvalid("decoder key must be 8 bytes (STA) or 16 bytes (MISTY1)")
        super().__init__(key)
        self._ciphers: dict[TableSet, BlockCipher] = {}

    @classmethod
    def from_hex(cls, text: str, *, byte_reversed: bool = False) -> DecoderKey:
        """Parse hex; ``byte_reversed`` accepts the rendering some tools print (bytes reversed)."""
        raw = _parse_hex(text, "decoder key")
        return cls(raw[::-1] if byte_reversed else raw)

    @property
    def algorithm(self) -> EncryptionAlgorithm:
        return EncryptionAlgorithm.EA07 if len(self._key) == 8 else EncryptionAlgorithm.EA11

    def hex(self) -> str:
        """Upper-case natural-order hex, for deliberate display only (CLI derive-key)."""
        return self._key.hex().upper()

    def as_int(self) -> int:
        return int.from_bytes(self._key, "big")

    def cipher(self, tables: TableSet = TableSet.REAL) -> BlockCipher:
        """The block cipher for this key; the key schedule is built once and kept on the key."""
        cipher = self._ciphers.get(tables)
        if cipher is None:
            if len(self._key) == 8:
                cipher = StaCipher(self.as_int(), tables)
            else:
                # MISTY1 has no table sets; one schedule serves both entries.
                cipher = Misty1Cipher(self._key)
            self._ciphers[tables] = cipher
        return cipher


def _digits(value: str | int, width: int, what: str) -> str:
    text = str(value).strip()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        text = text.zfill(width)
    if len(text) != width or not text.isascii() or not text.isdigit():
        raise ParameterInvalid(f"{what} must be {width} decimal digits")
    return text


@dataclass(frozen=True, slots=True)
class MeterKeyParams:
    """Everything that, with the vending key, determines a meter's decoder key and TIDs."""

    meter: MeterNumber
    sgc: str
    ti: int
    krn: int
    kt: KeyType
    ken: int = KEN_NEVER_EXPIRES
    ea: EncryptionAlgorithm = EncryptionAlgorithm.EA07
    dkga: Dkga = Dkga.DKGA02
    base_date: BaseDate = BaseDate.Y1993

    def __post_init__(self) -> None:
        _digits(self.sgc, 6, "SGC")
        if not 0 <= self.ti <= 99:
            raise ParameterInvalid("TI must be in 0..99")
        if not 0 <= self.krn <= 15:
            raise ParameterInvalid("KRN must be in 0..15")
        if not 0 <= self.ken <= 255:
            raise ParameterInvalid("KEN must be in 0..255")
        if self.dkga is Dkga.DKGA02 and self.ea is not EncryptionAlgorithm.EA07:
            raise AlgorithmUnsupported("DKGA02 produces 64-bit keys and can only be used with EA07")

    @classmethod
    def create(
        cls,
        *,
        meter: MeterNumber | Pan | str | int,
        sgc: str | int,
        ti: int | str,
        krn: int | str,
        kt: KeyType | int | str,
        ken: int | str = KEN_NEVER_EXPIRES,
        ea: EncryptionAlgorithm | str | int = EncryptionAlgorithm.EA07,
        dkga: Dkga | str | int = Dkga.DKGA02,
        base_date: BaseDate | int | str = BaseDate.Y1993,
    ) -> MeterKeyParams:
        """Build from loose values (strings from forms, ints from the database) with validation."""
        if isinstance(meter, MeterNumber):
            meter_number = meter
        elif isinstance(meter, Pan):
            meter_number = meter.meter_number
        else:
            meter_number = parse_meter_or_pan(meter)
        try:
            ti_int, krn_int, kt_int, ken_int = int(ti), int(krn), int(kt), int(ken)
        except ValueError:
            raise ParameterInvalid("TI, KRN, KT and KEN must be integers") from None
        if not 0 <= kt_int <= 3:
            raise ParameterInvalid("KT must be in 0..3")
        return cls(
            meter=meter_number,
            sgc=_digits(sgc, 6, "SGC"),
            ti=ti_int,
            krn=krn_int,
            kt=KeyType(kt_int),
            ken=ken_int,
            ea=EncryptionAlgorithm.parse(ea),
            dkga=Dkga.parse(dkga),
            base_date=BaseDate.parse(base_date),
        )

    @property
    def pan(self) -> Pan:
        return self.meter.pan


def pan_block(pan: Pan, kt: KeyType) -> int:
    """DKGA02 PANBlock: rightmost 16 of IIN ‖ IAIN as BCD nibbles; IAIN zeroed for common keys."""
    iin = pan.iin
    iain = pan.digits[len(iin) : -1]
    if kt is KeyType.DCTK:
        iain = "0" * len(iain)
    return int((iin + iain)[-16:], 16)


def control_block(kt: KeyType, sgc: str, ti: int, krn: int) -> int:
    """DKGA02 CONTROLBlock: KT ‖ SGC ‖ TI ‖ KRN as BCD nibbles, then FFFFFF."""
    if krn > 9:
        raise ParameterInvalid("DKGA02 needs a single-digit KRN")
    return int(f"{int(kt):X}{sgc}{ti:02d}{krn:X}FFFFFF", 16)


def dkga02(
    vending_key: VendingKey, pan: Pan, kt: KeyType, sgc: str, ti: int, krn: int
) -> DecoderKey:
    """DKGA02: DES-encrypt PANBlock XOR CONTROLBlock under the vending key, XOR both back in."""
    vk = vending_key.secret_bytes()
    if len(vk) != 8:
        raise KeyInvalid("DKGA02 needs a 64-bit (8-byte) vending key")
    data = (pan_block(pan, kt) ^ control_block(kt, sgc, ti, krn)).to_bytes(8, "big")
    # DKGA02 is defined on single DES; it derives keys, it does not protect data in transit.
    encrypted = DES.new(vk, DES.MODE_ECB).encrypt(data)  # noqa: S304
    key = bytes(e ^ d ^ v for e, d, v in zip(encrypted, data, vk, strict=True))
    return DecoderKey(key)


def dkga04_data(
    *,
    base_date: BaseDate,
    ea: EncryptionAlgorithm,
    ti: int,
    sgc: str,
    kt: KeyType,
    krn: int,
    pan: Pan,
) -> bytes:
    """The 49-byte DKGA04 message: length-prefixed label and context fields, then L in bits."""

    def field(text: str) -> bytes:
        return bytes([len(text)]) + text.encode("ascii")

    bits = 64 if ea is EncryptionAlgorithm.EA07 else 128
    return (
        b"\x04"
        + field("04")
        + field(base_date.value)
        + field(ea.value)
        + field(f"{ti:02d}")
        + b"\x00\x04"
        + field(sgc)
        + field(f"{int(kt):X}")
        + field(f"{krn:X}")
        + field(pan.digits)
        + bits.to_bytes(4, "big")
    )


def dkga04(
    vending_key: VendingKey,
    *,
    base_date: BaseDate,
    ea: EncryptionAlgorithm,
    ti: int,
    sgc: str,
    kt: KeyType,
    krn: int,
    pan: Pan,
) -> DecoderKey:
    """DKGA04: HMAC-SHA-256 of the data string; first 8 (STA) or 16 (MISTY1) bytes."""
    data = dkga04_data(base_date=base_date, ea=ea, ti=ti, sgc=sgc, kt=kt, krn=krn, pan=pan)
    digest = hmac.new(vending_key.secret_bytes(), data, hashlib.sha256).digest()
    return DecoderKey(digest[: ea.key_bytes])


def derive_decoder_key(params: MeterKeyParams, vending_key: VendingKey) -> DecoderKey:
    if params.dkga is Dkga.DKGA02:
        return dkga02(vending_key, params.pan, params.kt, params.sgc, params.ti, params.krn)
    return dkga04(
        vending_key,
        base_date=params.base_date,
        ea=params.ea,
        ti=params.ti,
        sgc=params.sgc,
        kt=params.kt,
        krn=params.krn,
        pan=params.pan,
    )


class DecoderKeyCache:
    """Thread-safe LRU of derived decoder keys (which also keep their cipher schedules)."""

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ParameterInvalid("cache size must be positive")
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[MeterKeyParams, VendingKey], DecoderKey] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"DecoderKeyCache(size={len(self._entries)}, maxsize={self._maxsize})"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, params: MeterKeyParams, vending_key: VendingKey) -> DecoderKey:
        entry_key = (params, vending_key)
        with self._lock:
            found = self._entries.get(entry_key)
            if found is not None:
                self._entries.move_to_end(entry_key)
                self.hits += 1
                return found
        derived = derive_decoder_key(params, vending_key)
        with self._lock:
            self.misses += 1
            self._entries[entry_key] = derived
            self._entries.move_to_end(entry_key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return derived

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
