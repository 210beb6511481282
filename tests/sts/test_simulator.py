"""The meter simulator: TID memory, registers, management tokens and key changes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridvend.sts import (
    BaseDate,
    CreditSubclass,
    DecoderKey,
    Dkga,
    EncryptionAlgorithm,
    KeyType,
    MeterKeyParams,
    MeterSimulator,
    ResultCode,
    StsEngine,
    VendingKey,
    credit_token,
    key_change_tokens,
    management_token,
    meter_test_token,
)
from gridvend.sts.amount import MAX_BASE_UNITS, MAX_CURRENCY_BASE_UNITS
from gridvend.sts.errors import KeyChangeSameKey
from gridvend.sts.tokens import (
    ManagementSubclass,
    Payload,
    TokenClass,
    encode,
    format_digits,
    insert_class,
    key_change_payloads,
    key_change_section2,
    key_change_section3,
    key_change_section4,
    key_words,
)

from .conftest import TEST_VK160_HEX, TEST_VUDK_HEX, load_vectors

sta_keys = st.binary(min_size=8, max_size=8).map(DecoderKey)
misty_keys = st.binary(min_size=16, max_size=16).map(DecoderKey)
any_keys = st.one_of(sta_keys, misty_keys)


def _credit(key: DecoderKey, tid: int, amount: str = "1", **kwargs) -> str:
    return credit_token(key, amount=amount, tid=tid, rnd=tid % 16, **kwargs).digits


@pytest.fixture
def key() -> DecoderKey:
    return DecoderKey.from_hex("E653341F9D5BF36F")


@pytest.fixture
def meter(key: DecoderKey) -> MeterSimulator:
    return MeterSimulator(key, tid_memory_depth=5)


@settings(max_examples=25, deadline=None)
@given(key=any_keys, tids=st.lists(st.integers(0, 0xFFFFFF), min_size=1, max_size=12, unique=True))
def test_fresh_tokens_are_accepted_once_then_used(key, tids):
    meter = MeterSimulator(key, tid_memory_depth=len(tids))
    tokens = [_credit(key, tid) for tid in tids]
    for token in tokens:
        assert meter.enter(token).code is ResultCode.ACCEPTED
    for token in tokens:
        assert meter.enter(token).code is ResultCode.USED
    assert meter.registers[CreditSubclass.ELECTRICITY] == 10 * len(tids)


@settings(max_examples=25, deadline=None)
@given(
    key=any_keys,
    depth=st.integers(1, 6),
    extra=st.integers(1, 6),
    start=st.integers(1000, 0xFF0000),
    probe=st.integers(0, 999),
)
def test_tids_older_than_a_full_memory_are_old(key, depth, extra, start, probe):
    meter = MeterSimulator(key, tid_memory_depth=depth)
    accepted = [start + 10 * i for i in range(depth + extra)]
    for tid in accepted:
        assert meter.enter(_credit(key, tid)).code is ResultCode.ACCEPTED
    assert meter.tid_memory == tuple(accepted[-depth:])
    # Never seen, but below the oldest remembered TID.
    assert meter.enter(_credit(key, start - 1 - probe)).code is ResultCode.OLD
    # Seen long ago and evicted: old rather than used.
    assert meter.enter(_credit(key, accepted[0])).code is ResultCode.OLD
    before = dict(meter.registers)
    assert meter.registers == before


@settings(max_examples=20, deadline=None)
@given(
    data=st.data(),
    algorithm=st.sampled_from(EncryptionAlgorithm),
    ro=st.booleans(),
)
def test_key_change_applies_only_after_all_sections(data, algorithm, ro):
    size = algorithm.key_bytes
    old_bytes = data.draw(st.binary(min_size=size, max_size=size))
    # A key change to the key already in the meter is refused (see the DKGA02 roll-over test).
    new_bytes = data.draw(st.binary(min_size=size, max_size=size).filter(lambda k: k != old_bytes))
    old, new = DecoderKey(old_bytes), DecoderKey(new_bytes)
    meter = MeterSimulator(old, tid_memory_depth=10)
    assert meter.enter(_credit(old, 5000)).accepted
    assert meter.enter(_credit(old, 7000)).accepted
    sections = key_change_tokens(old, new, ken=255, krn=2, kt=2, ti=7, sgc="123457", ro=ro)
    assert len(sections) == (2 if algorithm is EncryptionAlgorithm.EA07 else 4)
    order = data.draw(st.permutations(sections))
    for token in order[:-1]:
        assert meter.enter(token.digits).code is ResultCode.KEY_CHANGE_PENDING
        assert meter.has_key(old)
        assert (meter.krn, meter.ti) == (1, 1)
    assert meter.enter(order[-1].digits).code is ResultCode.KEY_CHANGED
    assert meter.has_key(new)
    assert (meter.krn, meter.ti, meter.kt) == (2, 7, KeyType.DUTK)
    assert meter.pending_key_change_sections == frozenset()
    if algorithm is EncryptionAlgorithm.EA11:
        assert meter.sgc == "123457"
    # Roll-over clears the TID memory; otherwise the old TID is still remembered.
    expected = ResultCode.ACCEPTED if ro else ResultCode.USED
    assert meter.enter(_credit(new, 5000)).code is expected
    assert meter.tid_memory == ((5000,) if ro else (5000, 7000))
    assert meter.enter(_credit(old, 6000)).code is ResultCode.CRC_ERROR


def test_memory_starts_filled_with_the_manufacture_tid_so_it_is_used_and_older_ones_old(key):
    # STSA example: made 2020-01-01 08:00, base date 1993.
    made = 14_200_320
    meter = MeterSimulator(key, tid_memory_depth=3, manufacture_tid=made)
    assert meter.tid_memory == (made, made, made)
    assert meter.enter(_credit(key, made)).code is ResultCode.USED
    assert meter.enter(_credit(key, made - 1)).code is ResultCode.OLD
    assert meter.credit() == 0
    for tid in (made + 1, made + 2, made + 3):
        assert meter.enter(_credit(key, tid)).code is ResultCode.ACCEPTED
    assert meter.tid_memory == (made + 1, made + 2, made + 3)
    assert meter.enter(_credit(key, made)).code is ResultCode.OLD
    params = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=1, kt=2)
    built = MeterSimulator.for_meter(params, decoder_key=key, manufacture_tid=made)
    assert built.enter(_credit(key, made)).code is ResultCode.USED


def test_token_for_another_key_is_a_crc_error(meter):
    other = DecoderKey.from_hex("E94023262E9993C2")
    result = meter.enter(_credit(other, 100))
    assert result.code is ResultCode.CRC_ERROR
    assert meter.tid_memory == ()


def test_result_reports_the_transferred_amount(meter, key):
    result = meter.enter(_credit(key, 100, amount="2000"))
    assert result.code is ResultCode.ACCEPTED
    assert (result.token_class, result.subclass, result.tid) == (0, 0, 100)
    assert result.amount == Decimal("2000.4")
    assert result.amount_base_units == 20004
    assert meter.credit() == Decimal("2000.4")


def test_each_commodity_has_its_own_register(meter, key):
    meter.enter(_credit(key, 1, amount="1.5", commodity=CreditSubclass.WATER))
    meter.enter(_credit(key, 2, amount="2", commodity=CreditSubclass.GAS))
    assert meter.credit(CreditSubclass.WATER) == Decimal("1.5")
    assert meter.credit(CreditSubclass.GAS) == Decimal("2.0")
    assert meter.credit(CreditSubclass.ELECTRICITY) == 0


def test_currency_credit_lands_in_the_currency_register(meter, key):
    token = credit_token(
        key, amount="100", tid=3, rnd=0, commodity=CreditSubclass.ELECTRICITY_CURRENCY
    )
    assert meter.enter(token.digits).code is ResultCode.ACCEPTED
    assert meter.credit(CreditSubclass.ELECTRICITY_CURRENCY) == Decimal("100.00624")


@pytest.mark.parametrize("commodity", list(CreditSubclass), ids=lambda c: c.name)
def test_every_register_takes_the_largest_amount_its_tokens_carry_exactly(key, commodity):
    largest = MAX_CURRENCY_BASE_UNITS if commodity.is_currency else MAX_BASE_UNITS
    exact = Decimal(largest).scaleb(-5 if commodity.is_currency else -1, Context(prec=60))
    token = credit_token(key, amount=exact, tid=1, rnd=0, commodity=commodity)
    assert (token.amount_base_units, token.amount) == (largest, exact)
    meter = MeterSimulator(key)
    result = meter.enter(token.digits)
    assert result.code is ResultCode.ACCEPTED
    assert (result.amount_base_units, result.amount) == (largest, exact)
    assert meter.registers[commodity] == largest
    assert meter.credit(commodity) == exact


def test_a_thousand_currency_units_fit_a_currency_register(key):
    meter = MeterSimulator(key)
    token = credit_token(key, amount="1000", tid=3, rnd=0, commodity=CreditSubclass.WATER_CURRENCY)
    assert meter.enter(token.digits).code is ResultCode.ACCEPTED
    assert meter.credit(CreditSubclass.WATER_CURRENCY) == token.amount == Decimal("1000.02624")


def test_currency_register_capacity_is_its_own_setting(key):
    meter = MeterSimulator(key, register_capacity=100, currency_register_capacity=100_004)
    currency = CreditSubclass.GAS_CURRENCY
    result = meter.enter(_credit(key, 1, amount="1", commodity=currency))
    assert result.accepted and result.amount_base_units == 100_004  # 1 rounded up to 1.00004
    assert meter.enter(_credit(key, 2, amount="0.00001", commodity=currency)).code is (
        ResultCode.OVERFLOW
    )
    assert meter.enter(_credit(key, 3, amount="10")).accepted
    assert meter.enter(_credit(key, 4, amount="0.1")).code is ResultCode.OVERFLOW
    assert meter.registers[currency] == 100_004 and meter.credit() == Decimal("10.0")


def test_key_expiry_number_is_enforced_by_the_meter(key):
    meter = MeterSimulator(key, ken=85)
    assert meter.enter(_credit(key, 85 << 16 | 0xFFFF)).code is ResultCode.ACCEPTED
    assert meter.enter(_credit(key, 86 << 16)).code is ResultCode.KEY_EXPIRED


def test_default_key_refuses_credit_but_takes_management(key):
    meter = MeterSimulator(key, kt=KeyType.DDTK)
    assert meter.enter(_credit(key, 10)).code is ResultCode.DDTK_ERROR
    mpl = management_token(
        key, subclass=ManagementSubclass.SET_MAX_POWER_LIMIT, value=1000, tid=11, rnd=1
    )
    assert meter.enter(mpl.digits).code is ResultCode.ACCEPTED
    assert meter.power_limit_w == 1000


def test_register_overflow_is_refused(key):
    meter = MeterSimulator(key, register_capacity=100)
    assert meter.enter(_credit(key, 1, amount="10")).code is ResultCode.ACCEPTED
    assert meter.enter(_credit(key, 2, amount="0.1")).code is ResultCode.OVERFLOW
    assert meter.credit() == Decimal("10.0")
    assert meter.tid_memory == (1,)


def test_management_tokens_change_meter_settings(meter, key):
    def token(subclass: ManagementSubclass, value: int, tid: int) -> str:
        return management_token(key, subclass=subclass, value=value, tid=tid, rnd=0).digits

    meter.enter(_credit(key, 1, amount="5"))
    meter.enter(_credit(key, 2, amount="5", commodity=CreditSubclass.WATER))
    meter.set_tamper()
    assert meter.enter(token(ManagementSubclass.CLEAR_CREDIT, 0, 3)).accepted
    assert (meter.credit(), meter.credit(CreditSubclass.WATER)) == (0, Decimal("5.0"))
    assert meter.enter(token(ManagementSubclass.CLEAR_CREDIT, 0xFFFF, 4)).accepted
    assert meter.credit(CreditSubclass.WATER) == 0
    assert meter.enter(token(ManagementSubclass.CLEAR_CREDIT, 99, 5)).code is ResultCode.RANGE_ERROR
    assert meter.enter(token(ManagementSubclass.CLEAR_TAMPER, 0, 6)).accepted
    assert meter.tamper is False
    assert meter.enter(token(ManagementSubclass.SET_MAX_PHASE_POWER_UNBALANCE, 10, 7)).accepted
    assert meter.phase_unbalance_limit_w == 10
    assert meter.enter(token(ManagementSubclass.SET_TARIFF_RATE, 42, 8)).accepted
    assert meter.enter(token(ManagementSubclass.SET_WATER_METER_FACTOR, 3, 9)).accepted
    assert (meter.tariff_rate, meter.water_meter_factor) == (42, 3)


def test_reserved_subclasses_are_function_errors(meter, key):
    credit_sub_9 = encode(Payload(TokenClass.CREDIT, 9 << 44 | 12 << 16), key).digits
    management_sub_12 = encode(Payload(TokenClass.MANAGEMENT, 12 << 44 | 13 << 16), key).digits
    assert meter.enter(credit_sub_9).code is ResultCode.FUNCTION_ERROR
    assert meter.enter(management_sub_12).code is ResultCode.FUNCTION_ERROR
    assert meter.tid_memory == ()


def test_malformed_and_class_3_tokens_are_format_errors(meter):
    assert meter.enter("1234").code is ResultCode.FORMAT_ERROR
    assert meter.enter(format_digits(insert_class(3, 0))).code is ResultCode.FORMAT_ERROR


def test_test_tokens_check_the_manufacturer_code():
    params = MeterKeyParams.create(meter="0100000000008", sgc="123456", ti=1, krn=1, kt=2)
    meter = MeterSimulator.for_meter(params, VendingKey.from_hex(TEST_VUDK_HEX))
    assert meter.enter(meter_test_token(control=1, mfr_code=0).digits).accepted
    own = meter_test_token(control=2, mfr_code=100, four_digit_mfr=True)
    assert meter.enter(own.digits).accepted
    assert meter.last_test_control == 2
    other = meter_test_token(control=2, mfr_code=101, four_digit_mfr=True)
    assert meter.enter(other.digits).code is ResultCode.MFR_CODE_ERROR


def test_key_change_to_an_initialisation_key_is_a_key_type_error(meter, key):
    new = DecoderKey.from_hex("060B8643C59A27F1")
    first, _ = key_change_tokens(key, new, ken=255, krn=2, kt=0, ti=1, sgc="123456", ro=False)
    assert meter.enter(first.digits).code is ResultCode.KEY_TYPE_ERROR
    assert meter.pending_key_change_sections == frozenset()


def test_misty1_sections_are_a_function_error_on_an_sta_meter(meter, key):
    third = encode(key_change_section3(sgc_low12=1, key_word=5), key).digits
    fourth = encode(key_change_section4(sgc_high12=1, key_word=5), key).digits
    assert meter.enter(third).code is ResultCode.FUNCTION_ERROR
    assert meter.enter(fourth).code is ResultCode.FUNCTION_ERROR
    assert meter.pending_key_change_sections == frozenset()


def test_ctsa05_chain_from_the_vectors():
    """KCT pair under the TI01 key, then the meter decodes tokens made with the TI02 key."""
    vectors = {v["id"]: v for v in load_vectors()}
    meter = MeterSimulator(DecoderKey.from_hex("E653341F9D5BF36F"))
    assert meter.enter(vectors["CTSA05.1a"]["expected"]).code is ResultCode.KEY_CHANGE_PENDING
    assert meter.enter(vectors["CTSA05.1b"]["expected"]).code is ResultCode.KEY_CHANGED
    assert meter.has_key(DecoderKey.from_hex("060B8643C59A27F1"))
    assert (meter.ti, meter.krn, meter.ken) == (2, 1, 0xFF)


def test_misty1_chain_with_new_sgc_from_the_vectors():
    """04-CTSA19.4 sections 1, 3, 4 (published) plus a generated section 2 move the SGC."""
    vectors = {v["id"]: v for v in load_vectors()}
    current = DecoderKey.from_hex("F94B6ED353C3BFDB113E2D3A7EA3C41D")
    new = DecoderKey.from_hex("62C1F3B0F96EAC42AD670F20F52D7746")
    meter = MeterSimulator(current, sgc="123457")
    for section in ("s1", "s3", "s4"):
        result = meter.enter(vectors[f"04-CTSA19.4.{section}"]["expected"])
        assert result.code is ResultCode.KEY_CHANGE_PENDING
    second = encode(key_change_section2(kenlo=15, ti=1, nklo=key_words(new)[-1]), current)
    assert meter.enter(second.digits).code is ResultCode.KEY_CHANGED
    assert meter.sgc == "123461"
    assert meter.has_key(new)


def test_2024_roll_over_through_a_key_change_with_the_ro_bit():
    vk_1993 = VendingKey.from_hex(TEST_VUDK_HEX)
    vk_2014 = VendingKey.from_hex(TEST_VK160_HEX)
    old = MeterKeyParams.create(meter="11111111115", sgc="123456", ti=1, krn=1, kt=2)
    new = MeterKeyParams.create(
        meter="11111111115", sgc="123456", ti=1, krn=2, kt=2, dkga=Dkga.DKGA04,
        base_date=BaseDate.Y2014,
    )  # fmt: skip
    engine = StsEngine(rnd_source=lambda: 3)
    meter = MeterSimulator.for_meter(old, vk_1993)
    before = engine.issue_credit(
        old, vk_1993, amount="10", issued_at=datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
    )
    assert meter.enter(before.digits).accepted
    kct = engine.issue_key_change(old, vk_1993, new, vk_2014)
    assert [t.ro for t in kct] == [True, True]
    assert [meter.enter(t.digits).code for t in kct] == [
        ResultCode.KEY_CHANGE_PENDING,
        ResultCode.KEY_CHANGED,
    ]
    after = engine.issue_credit(
        new, vk_2014, amount="10", issued_at=datetime(2025, 1, 2, 8, 0, tzinfo=UTC)
    )
    assert after.tid is not None and before.tid is not None and after.tid < before.tid
    assert meter.enter(after.digits).code is ResultCode.ACCEPTED
    assert meter.credit() == Decimal("20.0")
    # The old token cannot be replayed: it no longer decrypts under the new key.
    assert meter.enter(before.digits).code is ResultCode.CRC_ERROR


def test_dkga02_roll_over_that_keeps_the_key_is_refused_because_it_reopens_replays():
    """DKGA02 does not derive from the base date: 1993 -> 2014 with the same KRN keeps the key.

    The meter clears its TID memory on RO = 1, so under an unchanged key every token it has
    already accepted would credit again. The engine must refuse such a key change.
    """
    vk = VendingKey.from_hex(TEST_VUDK_HEX)
    old = MeterKeyParams.create(meter="11111111115", sgc="123456", ti=1, krn=1, kt=2)
    new = MeterKeyParams.create(
        meter="11111111115", sgc="123456", ti=1, krn=1, kt=2, base_date=BaseDate.Y2014
    )
    engine = StsEngine(rnd_source=lambda: 3)
    old_key = engine.decoder_key(old, vk)
    assert engine.decoder_key(new, vk) == old_key
    meter = MeterSimulator.for_meter(old, vk)
    used = engine.issue_credit(
        old, vk, amount="100", issued_at=datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
    )
    assert meter.enter(used.digits).code is ResultCode.ACCEPTED
    assert meter.enter(used.digits).code is ResultCode.USED

    with pytest.raises(KeyChangeSameKey) as refused:
        engine.issue_key_change(old, vk, new, vk)
    assert refused.value.code == "KEY_CHANGE_SAME_KEY"
    with pytest.raises(KeyChangeSameKey):
        key_change_tokens(old_key, old_key, ken=255, krn=1, kt=2, ti=1, sgc="123456", ro=True)

    # The tokens the engine used to issue, made below its guard: the meter takes them and the
    # used 100 kWh token is accepted a second time.
    sections = key_change_payloads(old_key, ken=255, krn=1, kt=2, ti=1, ro=True, sgc="123456")
    kct = [encode(section, old_key).digits for section in sections]
    assert [meter.enter(t).code for t in kct] == [
        ResultCode.KEY_CHANGE_PENDING,
        ResultCode.KEY_CHANGED,
    ]
    assert meter.enter(used.digits).code is ResultCode.ACCEPTED
    assert meter.credit() == Decimal("200.0")


def test_dkga02_roll_over_with_a_new_key_revision_changes_the_key_and_stops_replays():
    vk = VendingKey.from_hex(TEST_VUDK_HEX)
    old = MeterKeyParams.create(meter="11111111115", sgc="123456", ti=1, krn=1, kt=2)
    new = MeterKeyParams.create(
        meter="11111111115", sgc="123456", ti=1, krn=2, kt=2, base_date=BaseDate.Y2014
    )
    engine = StsEngine(rnd_source=lambda: 3)
    meter = MeterSimulator.for_meter(old, vk)
    used = engine.issue_credit(
        old, vk, amount="100", issued_at=datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
    )
    assert meter.enter(used.digits).accepted
    kct = engine.issue_key_change(old, vk, new, vk)
    assert [t.ro for t in kct] == [True, True]
    assert [meter.enter(t.digits).code for t in kct][-1] is ResultCode.KEY_CHANGED
    assert meter.has_key(engine.decoder_key(new, vk))
    assert meter.enter(used.digits).code is ResultCode.CRC_ERROR
    assert meter.credit() == Decimal("100.0")


def test_dkga04_roll_over_changes_the_key_through_the_base_date_alone():
    """DKGA04 takes the base date code as an input, so the same KRN still gives a new key."""
    vk = VendingKey.from_hex(TEST_VK160_HEX)
    old = MeterKeyParams.create(
        meter="11111111115", sgc="123457", ti=1, krn=1, kt=2, dkga=Dkga.DKGA04
    )
    new = MeterKeyParams.create(
        meter="11111111115", sgc="123457", ti=1, krn=1, kt=2, dkga=Dkga.DKGA04,
        base_date=BaseDate.Y2014,
    )  # fmt: skip
    engine = StsEngine(rnd_source=lambda: 3)
    assert engine.decoder_key(new, vk) != engine.decoder_key(old, vk)
    meter = MeterSimulator.for_meter(old, vk)
    used = engine.issue_credit(
        old, vk, amount="100", issued_at=datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
    )
    assert meter.enter(used.digits).accepted
    kct = engine.issue_key_change(old, vk, new, vk)
    assert [meter.enter(t.digits).code for t in kct][-1] is ResultCode.KEY_CHANGED
    assert meter.tid_memory == ()
    assert meter.enter(used.digits).code is ResultCode.CRC_ERROR
