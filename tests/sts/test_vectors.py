"""Every public compliance vector is reproduced: encode gives the digits, decode the fields."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gridvend.sts.amount import encode_amount, to_base_units
from gridvend.sts.crc import token_crc
from gridvend.sts.identity import Pan
from gridvend.sts.keys import (
    DecoderKey,
    EncryptionAlgorithm,
    KeyType,
    VendingKey,
    dkga02,
    dkga04,
    dkga04_data,
)
from gridvend.sts.misty1 import Misty1Cipher
from gridvend.sts.tid import BaseDate, tid_for
from gridvend.sts.tokens import (
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
from gridvend.sts.vectors import KINDS, check_vector, check_vectors

from .conftest import SHARED_VECTORS_PATH, VECTORS_PATH, load_vectors, vectors_of


def test_vector_copy_matches_the_shared_file_when_present():
    if not SHARED_VECTORS_PATH.exists():
        pytest.skip("shared/ is not beside the repository")
    assert json.loads(VECTORS_PATH.read_text()) == json.loads(SHARED_VECTORS_PATH.read_text())


def test_vector_file_holds_214_vectors_of_known_kinds(all_vectors):
    assert len(all_vectors) == 214
    assert {v["kind"] for v in all_vectors} <= KINDS


@pytest.mark.parametrize("vector", vectors_of("dkga02"))
def test_dkga02_vector_derives_expected_decoder_key(vector):
    i = vector["inputs"]
    key = dkga02(
        VendingKey.from_hex(i["vudk"]),
        Pan.parse(i["pan"]),
        KeyType(i["kt"]),
        i["sgc"],
        int(i["ti"]),
        i["krn"],
    )
    assert key.hex() == vector["expected"].upper()


@pytest.mark.parametrize("vector", vectors_of("dkga04"))
def test_dkga04_vector_derives_expected_decoder_key_and_data_string(vector):
    i = vector["inputs"]
    args = {
        "base_date": BaseDate.parse(i["base"]),
        "ea": EncryptionAlgorithm.parse(i["ea"]),
        "ti": int(i["ti"]),
        "sgc": i["sgc"],
        "kt": KeyType(i["kt"]),
        "krn": i["krn"],
        "pan": Pan.parse(i["pan"]),
    }
    assert dkga04_data(**args).hex().upper() == i["data"].upper()
    assert dkga04(VendingKey.from_hex(i["vk"]), **args).hex() == vector["expected"].upper()


def _tid(i):
    if "issue_utc" in i:
        year, month, day, hour, minute = i["issue_utc"]
        issued = datetime(year, month, day, hour, minute, tzinfo=UTC)
        # CTSA09's odd labelling is data: the vector's issue time and TID already say 00:02.
        assert tid_for(issued, BaseDate.parse(i["base_date"])) == i["tid"]
    return i["tid"]


def _round_trip(vector, payload, key):
    """The payload encodes to the vector's digits, and those decode with a good CRC."""
    assert encode(payload, key).digits == vector["expected"]
    decoded = decode(vector["expected"], key)
    assert decoded.crc_ok
    return decoded


def _register_fields(decoded):
    return (decoded.token_class, decoded.subclass, decoded.rnd, decoded.tid, decoded.value_field)


@pytest.mark.parametrize("vector", vectors_of("class0"))
def test_credit_vector_encodes_and_decodes(vector):
    i = vector["inputs"]
    key = DecoderKey.from_hex(i["decoder_key"])
    if i.get("amount") is not None:
        field = encode_amount(to_base_units(Decimal(str(i["amount"])), Decimal("0.1")))
        assert f"{field:04X}" == i["amount_field"].upper()
    else:
        field = int(i["amount_field"], 16)
    tid = _tid(i)
    payload = credit_payload(i["subclass"], rnd=i["rnd"], tid=tid, amount_field=field)
    decoded = _round_trip(vector, payload, key)
    assert _register_fields(decoded) == (0, i["subclass"], i["rnd"], tid, field)
    if "amount_tenths" in i:
        assert decoded.amount_base_units >= i["amount_tenths"]


@pytest.mark.parametrize("vector", vectors_of("class0-currency"))
def test_currency_vector_encodes_and_decodes(vector):
    i = vector["inputs"]
    key = DecoderKey.from_hex(i["decoder_key"])
    field = int(i["amount_field"], 16)
    payload = currency_payload(
        i["subclass"], s_and_e=i["s_and_e"], tid=i["tid"], amount_field=field
    )
    decoded = _round_trip(vector, payload, key)
    assert (decoded.subclass, decoded.s_and_e, decoded.tid, decoded.value_field) == (
        i["subclass"],
        i["s_and_e"],
        i["tid"],
        field,
    )


@pytest.mark.parametrize("vector", vectors_of("class1"))
def test_test_token_vector_encodes_and_decodes(vector):
    i = vector["inputs"]
    control = int(i["control"], 16)
    payload = meter_test_payload(i["subclass"], control=control, mfr_code=i["mfr_code"])
    decoded = _round_trip(vector, payload, None)
    assert (decoded.token_class, decoded.subclass, decoded.control, decoded.mfr_code) == (
        1,
        i["subclass"],
        control,
        i["mfr_code"],
    )


@pytest.mark.parametrize("vector", vectors_of("class2"))
def test_management_vector_encodes_and_decodes(vector):
    i = vector["inputs"]
    key = DecoderKey.from_hex(i["decoder_key"])
    value = int(i["field16"], 16)
    tid = _tid(i)
    payload = management_payload(i["subclass"], rnd=i["rnd"], tid=tid, value=value)
    decoded = _round_trip(vector, payload, key)
    assert _register_fields(decoded) == (2, i["subclass"], i["rnd"], tid, value)


@pytest.mark.parametrize("vector", vectors_of("class2-kct"))
def test_key_change_vector_encodes_under_the_current_key_and_decodes(vector):
    i = vector["inputs"]
    current = DecoderKey.from_hex(i["current_key"])
    words = key_words(DecoderKey.from_hex(i["new_key"]))
    section = i["section"]
    if section == 1:
        payload = key_change_section1(
            kenho=i["kenho"],
            krn=i["new_krn"],
            ro=i["ro"],
            res=i["res"],
            kt=i["new_kt"],
            nkho=words[0],
        )
        expected_fields = {
            "ken_nibble": i["kenho"],
            "krn": i["new_krn"],
            "ro": i["ro"],
            "kt": i["new_kt"],
        }
        word = words[0]
    elif section == 2:
        payload = key_change_section2(kenlo=i["kenlo"], ti=i["new_ti"], nklo=words[-1])
        expected_fields = {"ken_nibble": i["kenlo"], "ti": i["new_ti"]}
        word = words[-1]
    elif section == 3:
        sgc_low = int(i["sgc"]) & 0xFFF
        assert f"{sgc_low:03X}" == i["sgc_low12"].upper()
        payload = key_change_section3(sgc_low12=sgc_low, key_word=words[1])
        expected_fields = {"sgc_part": sgc_low}
        word = words[1]
    else:
        sgc_high = int(i["sgc"]) >> 12
        assert f"{sgc_high:03X}" == i["sgc_high12"].upper()
        payload = key_change_section4(sgc_high12=sgc_high, key_word=words[2])
        expected_fields = {"sgc_part": sgc_high}
        word = words[2]
    decoded = _round_trip(vector, payload, current)
    assert decoded.kct_section == section
    assert decoded.key_word == word
    assert {k: getattr(decoded, k) for k in expected_fields} == expected_fields


@pytest.mark.parametrize("vector", vectors_of("crc"))
def test_crc_vector(vector):
    first50 = int(vector["inputs"]["first50_hex"], 16)
    assert f"{token_crc(first50):04X}" == vector["expected"].upper()


@pytest.mark.parametrize("vector", vectors_of("misty1"))
def test_misty1_rfc2994_vector(vector):
    cipher = Misty1Cipher(bytes.fromhex(vector["inputs"]["key"]))
    plain = int(vector["inputs"]["pt"], 16)
    assert cipher.encrypt_block(plain) == int(vector["expected"], 16)
    assert cipher.decrypt_block(int(vector["expected"], 16)) == plain


def test_checker_passes_every_vector_in_the_file():
    results = check_vectors(load_vectors())
    assert [r.vector_id for r in results if not r.passed] == []
    assert len(results) == 214


@pytest.mark.parametrize(
    ("vector_id", "path", "value", "fragment"),
    [
        ("CTSA01.1", ("expected",), "23716100501183194198", "token"),
        ("CTSA01.1", ("inputs", "amount_field"), "0002", "amount field"),
        ("CTSA01.1", ("inputs", "tid"), 5871716, "TID from issue time"),
        ("DK-02-A", ("inputs", "control_block"), "2123456011FFFFFE", "control block"),
        ("DK-04-STA-93", ("inputs", "data"), "00", "data string"),
        ("STD-EX-token", ("inputs", "data_block"), "0B19EB230100C208", "data block"),
        ("CRC-STSA", ("inputs", "first50_hex"), "005C02A552711", "50-bit CRC input"),
        ("04-CTSA05.1.s3", ("inputs", "sgc_low12"), "242", "sgc_low12"),
        ("TP.currency.sub4", ("inputs", "s_and_e"), 8, "S&E"),
    ],
)
def test_checker_reports_a_tampered_vector(vector_id, path, value, fragment):
    vector = copy.deepcopy(next(v for v in load_vectors() if v["id"] == vector_id))
    target = vector
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    result = check_vector(vector)
    assert not result.passed
    assert any(fragment in problem for problem in result.problems)


def test_checker_treats_an_unknown_kind_as_a_failure():
    result = check_vector({"id": "x", "kind": "class9", "inputs": {}, "expected": ""})
    assert not result.passed
    assert "unknown kind" in result.problems[0]


def test_checker_reports_missing_inputs_as_a_failure():
    result = check_vector({"id": "x", "kind": "class0", "inputs": {}, "expected": "1"})
    assert not result.passed
