"""Recomputes STS test vectors (vectors.json format) from their primary inputs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from gridvend.sts.amount import (
    decode_currency_amount,
    encode_amount,
    encode_currency_amount,
    to_base_units,
)
from gridvend.sts.crc import token_crc
from gridvend.sts.errors import StsError
from gridvend.sts.identity import Pan
from gridvend.sts.keys import (
    DecoderKey,
    EncryptionAlgorithm,
    KeyType,
    VendingKey,
    control_block,
    dkga02,
    dkga04,
    dkga04_data,
    pan_block,
)
from gridvend.sts.misty1 import Misty1Cipher
from gridvend.sts.tables import TableSet
from gridvend.sts.tid import BaseDate, tid_for
from gridvend.sts.tokens import (
    DecodedToken,
    Payload,
    credit_payload,
    currency_payload,
    decode,
    encode,
    key_change_section1,
    key_change_section2,
    key_change_section3,
    key_change_section4,
    key_words,
    management_payload,
    meter_test_payload,
)

Inputs = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class VectorResult:
    vector_id: str
    kind: str
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def expect(self, what: str, got: object, want: object) -> None:
        if got != want:
            self.items.append(f"{what}: computed {got}, vector has {want}")

    def add(self, text: str) -> None:
        self.items.append(text)


def _hex(value: str) -> int:
    return int(str(value), 16)


def _hex_text(value: int, width: int) -> str:
    return f"{value:0{width}X}"


def _tables(inputs: Inputs) -> TableSet:
    return TableSet(str(inputs.get("tables", "real")).lower())


def _decoder_key(text: str, ea: object, p: _Problems) -> DecoderKey:
    key = DecoderKey.from_hex(str(text))
    algorithm = EncryptionAlgorithm.parse(str(ea))
    p.expect("decoder key length for the algorithm", key.algorithm, algorithm)
    return key


def _check_tid(inputs: Inputs, p: _Problems) -> int:
    """The TID is primary, but when the issue time is given it must agree with it."""
    tid = int(inputs["tid"])
    if "issue_utc" in inputs:
        year, month, day, hour, minute = (int(x) for x in inputs["issue_utc"])
        issued = datetime(year, month, day, hour, minute, tzinfo=UTC)
        base = BaseDate.parse(inputs.get("base_date", 1993))
        p.expect("TID from issue time", tid_for(issued, base), tid)
    if "issue_local" in inputs:
        # The standard's example predates UTC TIDs; its local time is read as UTC.
        naive = datetime.strptime(str(inputs["issue_local"]), "%Y-%m-%d %H:%M")
        base = BaseDate.parse(inputs.get("base_date", 1993))
        p.expect("TID from issue time", tid_for(naive.replace(tzinfo=UTC), base), tid)
    return tid


def _encode_and_compare(
    payload: Payload,
    key: DecoderKey | None,
    tables: TableSet,
    inputs: Inputs,
    expected: str,
    p: _Problems,
) -> DecodedToken | None:
    token = encode(payload, key, tables)
    if "data_block" in inputs:
        p.expect("data block", _hex_text(token.block, 16), str(inputs["data_block"]).upper())
    p.expect("token", token.digits, expected)
    try:
        decoded = decode(expected, key, tables)
    except StsError as exc:
        p.add(f"expected token does not decode: {exc}")
        return None
    p.expect("decoded CRC valid", decoded.crc_ok, True)
    p.expect("decoded class", decoded.token_class, int(payload.token_class))
    p.expect("decoded block", decoded.block == payload.block(), True)
    return decoded


def _check_dkga02(inputs: Inputs, expected: str, p: _Problems) -> None:
    vk = VendingKey.from_hex(str(inputs["vudk"]))
    pan = Pan.parse(str(inputs["pan"]))
    kt = KeyType(int(inputs["kt"]))
    sgc, ti, krn = str(inputs["sgc"]), int(inputs["ti"]), int(inputs["krn"])
    if "pan_block" in inputs:
        p.expect("PAN block", _hex_text(pan_block(pan, kt), 16), str(inputs["pan_block"]).upper())
    if "control_block" in inputs:
        got = _hex_text(control_block(kt, sgc, ti, krn), 16)
        p.expect("control block", got, str(inputs["control_block"]).upper())
    p.expect("decoder key", dkga02(vk, pan, kt, sgc, ti, krn).hex(), expected.upper())


def _check_dkga04(inputs: Inputs, expected: str, p: _Problems) -> None:
    vk = VendingKey.from_hex(str(inputs["vk"]))
    args: dict[str, Any] = {
        "base_date": BaseDate.parse(str(inputs["base"])),
        "ea": EncryptionAlgorithm.parse(str(inputs["ea"])),
        "ti": int(inputs["ti"]),
        "sgc": str(inputs["sgc"]),
        "kt": KeyType(int(inputs["kt"])),
        "krn": int(inputs["krn"]),
        "pan": Pan.parse(str(inputs["pan"])),
    }
    if "data" in inputs:
        p.expect("data string", dkga04_data(**args).hex().upper(), str(inputs["data"]).upper())
    p.expect("decoder key", dkga04(vk, **args).hex(), expected.upper())


def _check_class0(inputs: Inputs, expected: str, p: _Problems) -> None:
    key = _decoder_key(inputs["decoder_key"], inputs["ea"], p)
    if "pan" in inputs:
        Pan.parse(str(inputs["pan"]))
    tid = _check_tid(inputs, p)
    subclass, rnd = int(inputs["subclass"]), int(inputs["rnd"])
    if inputs.get("amount") is not None:
        base = to_base_units(Decimal(str(inputs["amount"])), Decimal("0.1"))
        if "amount_tenths" in inputs:
            p.expect("amount in base units", base, int(inputs["amount_tenths"]))
        field = encode_amount(base)
        if "amount_field" in inputs:
            p.expect("amount field", _hex_text(field, 4), str(inputs["amount_field"]).upper())
    else:
        field = _hex(inputs["amount_field"])
    payload = credit_payload(subclass, rnd=rnd, tid=tid, amount_field=field)
    decoded = _encode_and_compare(payload, key, _tables(inputs), inputs, expected, p)
    if decoded is not None:
        got = (decoded.subclass, decoded.rnd, decoded.tid, decoded.value_field)
        p.expect("decoded subclass/rnd/tid/amount field", got, (subclass, rnd, tid, field))


def _check_currency(inputs: Inputs, expected: str, p: _Problems) -> None:
    key = _decoder_key(inputs["decoder_key"], inputs["ea"], p)
    tid = _check_tid(inputs, p)
    subclass = int(inputs["subclass"])
    s_and_e, field = int(inputs["s_and_e"]), _hex(inputs["amount_field"])
    amount = inputs.get("amount")
    if amount is not None:
        text = str(amount)
        requested = re.search(r"requested\s+(-?[0-9.]+)", text)
        transferred = re.match(r"\s*(-?[0-9.]+)", text)
        if transferred is None:
            p.add(f"amount {text!r} is not a number")
        else:
            want = Decimal(transferred.group(1))
            transferred_units = decode_currency_amount(s_and_e, field)
            p.expect("transferred amount", Decimal(transferred_units) * Decimal("0.00001"), want)
            source = Decimal(requested.group(1)) if requested else want
            computed = encode_currency_amount(to_base_units(source, Decimal("0.00001")))
            p.expect("S&E and amount field", computed, (s_and_e, field))
    payload = currency_payload(subclass, s_and_e=s_and_e, tid=tid, amount_field=field)
    decoded = _encode_and_compare(payload, key, _tables(inputs), inputs, expected, p)
    if decoded is not None:
        fields = (decoded.subclass, decoded.s_and_e, decoded.tid, decoded.value_field)
        p.expect("decoded subclass/S&E/tid/field", fields, (subclass, s_and_e, tid, field))


def _check_crc(inputs: Inputs, expected: str, p: _Problems) -> None:
    first50 = _hex(inputs["first50_hex"])
    if "cls" in inputs:
        built = (
            int(inputs["cls"]) << 48
            | int(inputs["sub"]) << 44
            | int(inputs["rnd"]) << 40
            | int(inputs["tid"]) << 16
            | _hex(inputs["amount_field"])
        )
        p.expect("50-bit CRC input", _hex_text(built, 13), _hex_text(first50, 13))
    p.expect("CRC", _hex_text(token_crc(first50), 4), expected.upper())


def _check_class1(inputs: Inputs, expected: str, p: _Problems) -> None:
    subclass, control, mfr = (
        int(inputs["subclass"]),
        _hex(inputs["control"]),
        int(inputs["mfr_code"]),
    )
    if "mfr_bits" in inputs:
        p.expect("MfrCode width", int(inputs["mfr_bits"]), 8 if subclass == 0 else 16)
    payload = meter_test_payload(subclass, control=control, mfr_code=mfr)
    decoded = _encode_and_compare(payload, None, _tables(inputs), inputs, expected, p)
    if decoded is not None:
        got = (decoded.subclass, decoded.control, decoded.mfr_code)
        p.expect("decoded subclass/control/mfr", got, (subclass, control, mfr))


def _check_class2(inputs: Inputs, expected: str, p: _Problems) -> None:
    key = _decoder_key(inputs["decoder_key"], inputs["ea"], p)
    tid = _check_tid(inputs, p)
    subclass, rnd, value = int(inputs["subclass"]), int(inputs["rnd"]), _hex(inputs["field16"])
    payload = management_payload(subclass, rnd=rnd, tid=tid, value=value)
    decoded = _encode_and_compare(payload, key, _tables(inputs), inputs, expected, p)
    if decoded is not None:
        got = (decoded.subclass, decoded.rnd, decoded.tid, decoded.value_field)
        p.expect("decoded subclass/rnd/tid/value", got, (subclass, rnd, tid, value))


def _check_kct(inputs: Inputs, expected: str, p: _Problems) -> None:
    current = _decoder_key(inputs["current_key"], inputs["ea"], p)
    new = _decoder_key(inputs["new_key"], inputs["ea"], p)
    words = key_words(new)
    section = int(inputs["section"])
    if section == 1:
        payload = key_change_section1(
            kenho=int(inputs["kenho"]),
            krn=int(inputs["new_krn"]),
            ro=int(inputs["ro"]),
            res=int(inputs.get("res", 0)),
            kt=int(inputs["new_kt"]),
            nkho=words[0],
        )
        want: tuple[object, ...] = (
            inputs["kenho"],
            inputs["new_krn"],
            inputs["ro"],
            inputs["new_kt"],
        )
        names: tuple[str, ...] = ("ken_nibble", "krn", "ro", "kt")
        word = words[0]
    elif section == 2:
        payload = key_change_section2(
            kenlo=int(inputs["kenlo"]), ti=int(inputs["new_ti"]), nklo=words[-1]
        )
        want = (inputs["kenlo"], inputs["new_ti"])
        names = ("ken_nibble", "ti")
        word = words[-1]
    elif section in (3, 4):
        if len(words) != 4:
            p.add("sections 3 and 4 exist only for 128-bit (MISTY1) keys")
            return
        sgc = int(str(inputs["sgc"]))
        part, name = (sgc & 0xFFF, "sgc_low12") if section == 3 else (sgc >> 12, "sgc_high12")
        if name in inputs:
            p.expect(name, _hex_text(part, 3), str(inputs[name]).upper().zfill(3))
        word = words[1] if section == 3 else words[2]
        if section == 3:
            payload = key_change_section3(sgc_low12=part, key_word=word)
        else:
            payload = key_change_section4(sgc_high12=part, key_word=word)
        want = (part,)
        names = ("sgc_part",)
    else:
        p.add(f"unknown key-change section {section}")
        return
    decoded = _encode_and_compare(payload, current, _tables(inputs), inputs, expected, p)
    if decoded is not None:
        got = tuple(getattr(decoded, name) for name in names)
        p.expect("decoded key-change fields", got, want)
        p.expect("decoded section", decoded.kct_section, section)
        p.expect("decoded key word matches the new key", decoded.key_word == word, True)


def _check_misty1(inputs: Inputs, expected: str, p: _Problems) -> None:
    cipher = Misty1Cipher(bytes.fromhex(str(inputs["key"])))
    plain = _hex(inputs["pt"])
    encrypted = cipher.encrypt_block(plain)
    p.expect("ciphertext", _hex_text(encrypted, 16), expected.upper())
    p.expect(
        "decrypt(ciphertext)",
        _hex_text(cipher.decrypt_block(_hex(expected)), 16),
        _hex_text(plain, 16),
    )


_CHECKERS: dict[str, Callable[[Inputs, str, _Problems], None]] = {
    "dkga02": _check_dkga02,
    "dkga04": _check_dkga04,
    "class0": _check_class0,
    "class0-currency": _check_currency,
    "crc": _check_crc,
    "class1": _check_class1,
    "class2": _check_class2,
    "class2-kct": _check_kct,
    "misty1": _check_misty1,
}

KINDS = frozenset(_CHECKERS)


def check_vector(vector: Mapping[str, Any]) -> VectorResult:
    vector_id = str(vector.get("id", "<no id>"))
    kind = str(vector.get("kind", "<no kind>"))
    checker = _CHECKERS.get(kind)
    if checker is None:
        return VectorResult(vector_id, kind, (f"unknown kind {kind!r}",))
    p = _Problems()
    try:
        checker(vector["inputs"], str(vector["expected"]), p)
    except StsError as exc:
        p.add(f"error: {exc}")
    except (KeyError, ValueError, TypeError) as exc:
        # Messages of these come from the vector's own structure, not from key material.
        p.add(f"malformed vector: {type(exc).__name__}: {exc}")
    return VectorResult(vector_id, kind, tuple(p.items))


def load_vectors(path: Path | str) -> list[dict[str, Any]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    vectors = data["vectors"] if isinstance(data, dict) else data
    if not isinstance(vectors, list):
        raise ValueError("vector file must hold a list or an object with a 'vectors' list")
    return vectors


def check_vectors(vectors: Iterable[Mapping[str, Any]]) -> list[VectorResult]:
    return [check_vector(v) for v in vectors]
