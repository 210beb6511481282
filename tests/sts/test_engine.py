"""The engine API the vending core calls, and that keys never leak into text."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from gridvend.sts import (
    BaseDate,
    CreditSubclass,
    DecoderKey,
    DecoderKeyCache,
    Dkga,
    EncryptionAlgorithm,
    KeyType,
    MeterKeyParams,
    MeterSimulator,
    ResultCode,
    StsEngine,
    StsError,
    TokenClass,
    VendingKey,
    decode,
)
from gridvend.sts.errors import (
    AlgorithmUnsupported,
    KeyChangeSameKey,
    KeyExpired,
    ParameterInvalid,
    TidOutOfRange,
)
from gridvend.sts.keys import dkga02

from .conftest import TEST_VK160_HEX, TEST_VUDK_HEX

ISSUED = datetime(2004, 3, 1, 13, 55, tzinfo=UTC)


@pytest.fixture
def vk() -> VendingKey:
    return VendingKey.from_hex(TEST_VUDK_HEX)


@pytest.fixture
def params() -> MeterKeyParams:
    return MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=1, kt=2)


@pytest.fixture
def engine() -> StsEngine:
    return StsEngine(rnd_source=lambda: 5)


def test_credit_token_reproduces_ctsa01_from_vending_key_and_issue_time(engine, params, vk):
    token = engine.issue_credit(params, vk, amount=Decimal("0.1"), issued_at=ISSUED)
    assert token.digits == "23716100501183194197"
    assert token.display == "2371 6100 5011 8319 4197"
    assert (token.token_class, token.subclass, token.tid, token.rnd) == (
        TokenClass.CREDIT,
        0,
        5871715,
        5,
    )
    assert (token.amount, token.unit, token.value_field) == (Decimal("0.1"), "kWh", 1)


def test_credit_token_with_explicit_tid_and_round_up_is_recorded(engine, params, vk):
    token = engine.issue_credit(params, vk, amount="2000", tid=123)
    assert token.tid == 123
    assert token.requested_amount == Decimal("2000")
    assert token.amount == Decimal("2000.4")
    assert token.amount_base_units == 20004


def test_issue_time_in_another_zone_is_converted_to_utc(engine, params, vk):
    plus_two = ISSUED.astimezone(timezone(timedelta(hours=2)))
    token = engine.issue_credit(params, vk, amount="0.1", issued_at=plus_two)
    assert token.tid == 5871715


def test_naive_issue_time_and_missing_or_double_tid_are_refused(engine, params, vk):
    with pytest.raises(ParameterInvalid):
        engine.issue_credit(params, vk, amount="1", issued_at=datetime(2004, 3, 1))
    with pytest.raises(ParameterInvalid):
        engine.issue_credit(params, vk, amount="1")
    with pytest.raises(ParameterInvalid):
        engine.issue_credit(params, vk, amount="1", tid=1, issued_at=ISSUED)
    with pytest.raises(TidOutOfRange):
        engine.issue_credit(params, vk, amount="1", tid=1 << 24)
    with pytest.raises(TidOutOfRange):
        engine.issue_credit(params, vk, amount="1", issued_at=datetime(2025, 1, 1, tzinfo=UTC))


def test_expired_key_is_refused_at_issue(engine, vk):
    # CTSA16: KEN 85, issued 2004-04-01 -> TID >> 16 = 90.
    params = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=1, kt=1, ken=85)
    with pytest.raises(KeyExpired) as info:
        engine.issue_clear_tamper(params, vk, issued_at=datetime(2004, 4, 1, tzinfo=UTC))
    assert info.value.code == "KEY_EXPIRED"


def test_default_rnd_comes_from_secrets_and_stays_in_range(params, vk):
    engine = StsEngine()
    rnds = {engine.issue_credit(params, vk, amount="1", tid=t).rnd for t in range(64)}
    assert rnds <= set(range(16))
    assert len(rnds) > 1


def test_engineering_tokens_reproduce_the_cts_vectors(engine, params, vk):
    at = datetime(2004, 3, 28, 9, 1, tzinfo=UTC)
    mpl = engine.issue_set_power_limit(params, vk, watts=1000, issued_at=at)
    assert mpl.digits == "50901894209860263092"
    assert (mpl.amount, mpl.unit) == (Decimal(1000), "W")
    clear = engine.issue_clear_credit(params, vk, issued_at=at.replace(minute=15))
    assert clear.digits == "29511990995826640868"
    tamper = engine.issue_clear_tamper(params, vk, issued_at=at.replace(hour=10, minute=0))
    assert tamper.digits == "37037300014464855694"
    mppul = engine.issue_set_phase_unbalance_limit(
        params, vk, watts=10, issued_at=at.replace(hour=10, minute=20)
    )
    assert mppul.digits == "30220533115430798647"


def test_tariff_rate_and_water_factor_tokens_decode_to_their_values(engine, params, vk):
    rate = engine.issue_set_tariff_rate(params, vk, rate=321, tid=10)
    water = engine.issue_set_water_meter_factor(params, vk, factor=7, tid=11)
    assert engine.decode(params, vk, rate.digits).value_field == 321
    assert (engine.decode(params, vk, water.digits).subclass, water.value_field) == (7, 7)


def test_class1_test_token_matches_ctsa02(engine):
    assert engine.issue_test(control=0xFFFFFFFFF).digits == "56493153725450313471"
    assert (
        engine.issue_test(control=0xFFFFFFF, four_digit_mfr=True).digits == "02305843005052951967"
    )


def test_key_change_reproduces_ctsa05_and_is_encrypted_with_the_old_key(engine, params, vk):
    new_params = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=2, krn=1, kt=2)
    tokens = engine.issue_key_change(params, vk, new_params, vk)
    assert [t.digits for t in tokens] == ["51638423060042734509", "15361891762113502242"]
    assert [(t.kct_section, t.ro) for t in tokens] == [(1, False), (2, False)]
    old_key = engine.decoder_key(params, vk)
    assert all(decode(t.digits, old_key).crc_ok for t in tokens)


def test_dkga04_roll_over_key_change_reproduces_ctsa26():
    vk = VendingKey.from_hex(TEST_VK160_HEX)
    common: dict[str, Any] = {
        "meter": "00000000000",
        "sgc": "123457",
        "ti": 1,
        "kt": 2,
        "dkga": Dkga.DKGA04,
    }
    old = MeterKeyParams.create(**common, krn=4, base_date=BaseDate.Y2014)
    new = MeterKeyParams.create(**common, krn=5, base_date=BaseDate.Y2035)
    tokens = StsEngine().issue_key_change(old, vk, new, vk)
    assert tokens[0].digits == "44163577485799480640"
    assert tokens[0].ro is True


def test_misty1_key_change_has_four_sections_with_the_sgc(engine):
    vk = VendingKey.from_hex(TEST_VK160_HEX)
    common: dict[str, Any] = {"meter": "00000000000", "sgc": "123457", "kt": 2, "krn": 1}
    old = MeterKeyParams.create(**common, ti=1, dkga="04", ea="11")
    new = MeterKeyParams.create(**common, ti=2, dkga="04", ea="11")
    tokens = engine.issue_key_change(old, vk, new, vk)
    assert [t.digits for t in tokens] == [
        "34812744915211133004",
        "46903925208523674737",
        "71464563847088610152",
        "67904239402617643990",
    ]


def test_key_change_cannot_switch_algorithm(engine, vk):
    vk160 = VendingKey.from_hex(TEST_VK160_HEX)
    old = MeterKeyParams.create(meter="00000000000", sgc="123457", ti=1, kt=2, krn=1, dkga="04")
    new = MeterKeyParams.create(
        meter="00000000000", sgc="123457", ti=1, kt=2, krn=2, dkga="04", ea="11"
    )
    with pytest.raises(AlgorithmUnsupported):
        engine.issue_key_change(old, vk160, new, vk160)


def test_key_change_that_keeps_the_decoder_key_is_refused_whatever_the_ro_bit(engine, params, vk):
    ken_only = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=1, kt=2, ken=200)
    same_vk_other_object = VendingKey.from_hex(TEST_VUDK_HEX)
    for ro in (None, False, True):
        with pytest.raises(KeyChangeSameKey) as refused:
            engine.issue_key_change(params, vk, ken_only, same_vk_other_object, ro=ro)
        assert refused.value.code == "KEY_CHANGE_SAME_KEY"
        assert TEST_VUDK_HEX not in str(refused.value)
    with pytest.raises(KeyChangeSameKey):
        engine.check_key_change(params, vk, ken_only, vk)
    new_params = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=2, kt=2)
    current, new = engine.check_key_change(params, vk, new_params, vk)
    assert current == engine.decoder_key(params, vk) and new != current


def test_decoder_key_cache_skips_derivation_for_repeat_tokens(params, vk):
    cache = DecoderKeyCache(maxsize=2)
    engine = StsEngine(cache=cache, rnd_source=lambda: 0)
    for tid in range(5):
        engine.issue_credit(params, vk, amount="1", tid=tid)
    assert (cache.misses, cache.hits) == (1, 4)
    for krn in (2, 3, 4):
        other = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=krn, kt=2)
        engine.decoder_key(other, vk)
    assert len(cache) == 2


def test_engine_tokens_are_accepted_by_a_simulated_meter(engine, params, vk):
    meter = MeterSimulator.for_meter(params, vk)
    token = engine.issue_credit(
        params, vk, amount="12.34", tid=1000, commodity=CreditSubclass.WATER
    )
    result = meter.enter(token.digits)
    assert result.code is ResultCode.ACCEPTED
    assert result.amount == token.amount == Decimal("12.4")
    assert meter.enter(token.digits).code is ResultCode.USED


def test_params_validation_uses_stable_codes():
    with pytest.raises(ParameterInvalid):
        MeterKeyParams.create(meter="00000000000", sgc="12345", ti=1, krn=1, kt=2)
    with pytest.raises(ParameterInvalid):
        MeterKeyParams.create(meter="00000000000", sgc="123456", ti=100, krn=1, kt=2)
    with pytest.raises(AlgorithmUnsupported):
        MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=1, kt=2, ea="11")
    params = MeterKeyParams.create(meter=600727000000000009, sgc=123456, ti="01", krn=1, kt=2)
    assert (params.meter.digits, params.sgc, params.kt, params.ea) == (
        "00000000000",
        "123456",
        KeyType.DUTK,
        EncryptionAlgorithm.EA07,
    )


# -- keys never leak --------------------------------------------------------------------

SECRET_HEX = "0123456789ABCDEF"


def _spellings(hex_text: str) -> list[str]:
    raw = bytes.fromhex(hex_text)
    return [hex_text.upper(), hex_text.lower(), raw.hex(), raw[::-1].hex(), str(raw), repr(raw)]


def test_vending_and_decoder_keys_are_redacted_in_repr_str_and_format():
    vending = VendingKey.from_hex(SECRET_HEX)
    decoder = DecoderKey.from_hex(SECRET_HEX)
    for text in (repr(vending), str(vending), f"{vending}", repr([vending]), f"{vending!r:>40}"):
        assert "<redacted>" in text
        assert not any(s in text for s in _spellings(SECRET_HEX))
    for text in (repr(decoder), str(decoder), f"{decoder}", repr(decoder.cipher())):
        assert "<redacted>" in text
        assert not any(s in text for s in _spellings(SECRET_HEX))


def test_keys_refuse_pickling():
    with pytest.raises(TypeError):
        pickle.dumps(VendingKey.from_hex(SECRET_HEX))


def test_reprs_of_params_engine_tokens_and_meter_hold_no_key(params, engine):
    vk = VendingKey.from_hex(SECRET_HEX)
    key = engine.decoder_key(params, vk)
    new_params = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=2, krn=1, kt=2)
    new_key = engine.decoder_key(new_params, vk)
    tokens = engine.issue_key_change(params, vk, new_params, vk)
    meter = MeterSimulator.for_meter(params, vk)
    texts = [repr(params), repr(engine), repr(meter), repr(engine.cache)]
    texts += [repr(t) for t in tokens] + [repr(decode(t.digits, key)) for t in tokens]
    texts += [repr(meter.enter(t.digits)) for t in tokens]
    secrets = _spellings(SECRET_HEX) + _spellings(key.hex()) + _spellings(new_key.hex())
    for word in (f"{w:08x}" for w in (int(new_key.hex()[:8], 16), int(new_key.hex()[8:], 16))):
        secrets.append(word)
        secrets.append(str(int(word, 16)))
    for text in texts:
        assert not any(s in text for s in secrets), text


@pytest.mark.parametrize(
    "make",
    [
        lambda: VendingKey.from_hex(SECRET_HEX + "ZZ"),
        lambda: VendingKey.from_hex(SECRET_HEX[:6]),
        lambda: DecoderKey.from_hex(SECRET_HEX + "01"),
        lambda: DecoderKey.from_hex("G" + SECRET_HEX[1:]),
        lambda: dkga02(
            VendingKey.from_hex(SECRET_HEX * 2),
            MeterKeyParams.create(meter="00000000000", sgc=1, ti=1, krn=1, kt=2).pan,
            KeyType.DUTK,
            "000001",
            1,
            1,
        ),
    ],
)
def test_key_errors_never_echo_the_key(make, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StsError) as info:
        make()
    assert info.value.code == "KEY_INVALID"
    rendered = [str(info.value), repr(info.value), info.value.message, caplog.text]
    for text in rendered:
        assert not any(s in text for s in _spellings(SECRET_HEX)), text
