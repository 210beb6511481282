"""Review defects 1 and 3: one typed amount must not hold the server, and bad input is a message.

Each test here answered a 500 (or froze the process) before the bounded parser and the typed
filters; the hostile walk (test_hostile_walk.py) keeps the whole class closed.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability, Role
from gridvend.kernel import inputs
from gridvend.kernel.errors import InvalidAmount
from gridvend.kernel.inputs import InvalidInput, NumberRule
from gridvend.kernel.money import Money
from gridvend.org.models import OrgLevel
from gridvend.tariffs.models import TariffVersion
from gridvend.vending.models import Sale, Shift, ShiftStatus
from tests import factories
from tests.signin import signed_in as _client
from tests.tariffs.factories import residential_spec
from tests.world import World, build_world

# --- the parser -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["1e700000", "1E5", "NaN", "Infinity", "-Infinity", "²", "٣", "𝟙", "1.2.3", "--1", "", " ",
     "0x10", "1_000e3", "9" * 49],
)  # fmt: skip
def test_parser_refuses_what_is_not_plain_digits(raw: str) -> None:
    with pytest.raises(InvalidInput):
        inputs.parse_decimal(raw, inputs.MONEY)


def test_parser_reads_separators_and_bounds_digits() -> None:
    assert inputs.parse_decimal(" 1,234.50 ", inputs.MONEY) == Decimal("1234.50")
    assert inputs.parse_decimal("000000000000000001.500000", inputs.MONEY) == Decimal("1.5")
    with pytest.raises(InvalidInput) as too_big:
        inputs.parse_decimal("1" + "0" * 12, inputs.MONEY)
    assert too_big.value.reason == "too_many_digits"
    with pytest.raises(InvalidInput) as too_fine:
        inputs.parse_decimal("1.0001", inputs.MONEY)
    assert too_fine.value.reason == "too_many_decimals"
    limited = inputs.MONEY.with_maximum(100)
    with pytest.raises(InvalidInput) as above:
        inputs.parse_decimal("100.01", limited)
    assert above.value.reason == "above_maximum"
    with pytest.raises(InvalidInput) as below:
        inputs.parse_decimal("-1", inputs.MONEY)
    assert below.value.reason == "below_minimum"


def test_parser_takes_decimal_cells_without_formatting_huge_exponents() -> None:
    with pytest.raises(InvalidInput):
        inputs.parse_decimal(Decimal("1e700000"), inputs.MONEY)
    with pytest.raises(InvalidInput):
        inputs.parse_decimal(Decimal("NaN"), inputs.MONEY)
    assert inputs.parse_decimal(Decimal("12.50"), inputs.MONEY) == Decimal("12.5")
    with pytest.raises(InvalidInput):
        inputs.parse_decimal(1.5, inputs.MONEY)  # floats are never money


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**11))
def test_parser_round_trips_every_amount_in_range(value: Decimal) -> None:
    assert inputs.parse_decimal(f"{value:,}", inputs.MONEY) == value


def test_parse_int_refuses_other_scripts_and_huge_numbers() -> None:
    for raw in ("²", "٣", "abc", "1.5", "9" * 30, ""):
        with pytest.raises(InvalidInput):
            inputs.parse_int(raw, minimum=0, maximum=10**9)
    assert inputs.parse_int(" 42 ", minimum=0, maximum=100) == 42


def test_money_refuses_magnitudes_no_utility_books() -> None:
    with pytest.raises(InvalidAmount):
        Money.from_major(Decimal("1e700000"), "KES")
    with pytest.raises(InvalidAmount):
        Money.from_major("1e100", "KES")
    assert Money.from_major("1e3", "KES").minor == 100000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Ali\u202eecnarf", "bidi_control"),
        ("Wan\u2066jiku", "bidi_control"),
        ("a\u200bdmin", "invisible_character"),
        ("a\x00b", "control_character"),
        ("a\x1bb", "control_character"),
        ("x" * 121, "too_long"),
    ],
)
def test_text_with_controls_overrides_or_too_long_is_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        inputs.clean_text(text, max_length=120)
    assert refused.value.reason == reason


def test_arabic_and_chinese_names_pass_with_their_marks() -> None:
    assert inputs.clean_text(" محمد\u200f علي ", max_length=50) == "محمد\u200f علي"
    assert inputs.clean_text("王小明", max_length=50) == "王小明"
    assert inputs.clean_text("line one\nline two", max_length=50, multiline=True)


# --- the cashier screen (defect 1 and the shift forms of defect 3) ---------------------------


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.mark.parametrize("amount", ["1e700000", "1e9999999", "NaN", "Infinity", "²", "-5"])
def test_quote_with_an_absurd_amount_is_a_form_error(world: World, amount: str) -> None:
    meter = world.add_meter()
    response = _client(world.cashier).post(
        f"/cashier/meters/{meter.number}/quote/",
        {"mode": "money", "amount": amount, "payment_method": "cash"},
    )
    assert response.status_code == 400
    assert 'id="breakdown"' not in response.content.decode()


def test_sale_above_the_configured_maximum_is_refused_before_pricing(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    with override_settings(MAX_SALE_AMOUNT=5000):
        response = client.post(
            f"/cashier/meters/{meter.number}/sell/",
            {"mode": "money", "amount": "5000.01", "payment_method": "cash",
             "client_reference": "cashier-max-1"},
        )  # fmt: skip
    assert response.status_code == 400
    assert "5000" in response.content.decode()
    assert not Sale.objects.filter(client_reference="cashier-max-1").exists()


@pytest.mark.parametrize("opening", ["1e100", "1e700000", "NaN", "²", "-5", "99999999999"])
def test_opening_float_out_of_bounds_opens_no_shift(world: World, opening: str) -> None:
    fresh = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    response = _client(fresh).post(
        "/cashier/", {"vending_point": world.point.pk, "opening_float": opening}
    )
    assert response.status_code == 200
    assert not Shift.objects.filter(operator=fresh).exists()


@pytest.mark.parametrize("count", ["abc", "-5", "NaN", "Infinity", "1e100", "²"])
def test_bad_counts_at_close_are_form_errors_and_the_shift_stays_open(
    world: World, count: str
) -> None:
    events = AuditEvent.objects.count()
    response = _client(world.cashier).post("/cashier/shift/", {"counted_cash": count, "note": ""})
    assert response.status_code == 200
    shift = Shift.objects.get(operator=world.cashier)
    assert shift.status == ShiftStatus.OPEN
    assert AuditEvent.objects.count() == events


def test_close_with_zero_counts_closes(world: World) -> None:
    response = _client(world.cashier).post("/cashier/shift/", {"counted_cash": "0.00"})
    assert response.status_code == 302
    assert Shift.objects.get(operator=world.cashier).status == ShiftStatus.CLOSED


# --- back-office filters (defect 3) -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/customers/", "/premises/", "/meters/", "/debts/",
                                  "/customers/export.csv", "/meters/export.xlsx"])  # fmt: skip
@pytest.mark.parametrize("unit", ["²", "٣", "-1", "99999999999999999999", "abc"])
def test_unreadable_unit_filter_is_a_400_with_a_sentence(
    world: World, path: str, unit: str
) -> None:
    response = _client(world.admin).get(path, {"unit": unit})
    assert response.status_code == 400
    assert "filter" in response.content.decode()


def test_a_unit_outside_the_subtree_is_still_a_404(world: World) -> None:
    north_manager = factories.user(world.tree.north, capabilities=(Capability.CUSTOMER_CARE,))
    response = _client(north_manager).get("/customers/", {"unit": world.tree.south.pk})
    assert response.status_code == 404


@pytest.mark.parametrize("query", [{"a": "²"}, {"b": "٣"}, {"a": "9" * 30}])
def test_tariff_compare_with_unreadable_versions_is_a_404(world: World, query: dict) -> None:
    response = _client(world.admin).get(f"/tariffs/{world.tariff.pk}/compare/", query)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query", [{"date_from": "0001-01-01"}, {"date_to": "9999-12-31"}, {"date_from": "2026-02-30"}]
)
def test_operation_log_dates_at_the_calendar_edges_are_form_errors(
    world: World, query: dict
) -> None:
    response = _client(world.admin).get("/operation-log/", query)
    assert response.status_code == 400
    assert "text-danger" in response.content.decode()


def test_operation_log_with_a_sane_range_lists_events(world: World) -> None:
    response = _client(world.admin).get(
        "/operation-log/", {"date_from": "2020-01-01", "date_to": "2199-12-31"}
    )
    assert response.status_code == 200


def test_renaming_a_level_with_an_unreadable_id_is_a_message(world: World) -> None:
    before = list(OrgLevel.objects.values_list("name", flat=True))
    response = _client(world.admin).post(
        "/org/levels/", {"action": "rename", "level": "abc", "name": "Zone"}
    )
    assert response.status_code == 200
    assert list(OrgLevel.objects.values_list("name", flat=True)) == before


# --- tariff specifications (defect 3) ---------------------------------------------------------


def _draft(world: World) -> TariffVersion:
    from gridvend.tariffs import services as tariff_services

    maker = factories.user(
        world.tree.root, Role.VENDING_POINT_MANAGER, capabilities=(Capability.FINANCE,)
    )
    draft = tariff_services.create_tariff_draft(
        actor=maker, tariff=world.tariff, spec=residential_spec()
    )
    draft.maker = maker  # type: ignore[attr-defined]
    return draft


@pytest.mark.parametrize(
    "spec",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"min_sale_minor": ' + "9" * 5000 + "}",
        '{"min_sale_minor": NaN}',
        '{"min_sale_minor": 1e700000}',
        '{"x": "' + "y" * 70_000 + '"}',
    ],
    ids=["deep", "long-int", "nan", "exponent", "huge"],
)
def test_hostile_tariff_specification_is_a_form_error(world: World, spec: str) -> None:
    draft = _draft(world)
    before = json.dumps(TariffVersion.objects.get(pk=draft.pk).spec, sort_keys=True)
    response = _client(draft.maker).post(  # type: ignore[attr-defined]
        f"/tariff-versions/{draft.pk}/edit/json/", {"spec": spec, "notes": ""}
    )
    assert response.status_code == 200
    assert "is-invalid" in response.content.decode() or "invalid" in response.content.decode()
    after = json.dumps(TariffVersion.objects.get(pk=draft.pk).spec, sort_keys=True)
    assert after == before


def test_number_rule_with_maximum_keeps_the_digits() -> None:
    rule = NumberRule(integer_digits=3, decimal_places=1).with_maximum(500)
    assert rule.integer_digits == 3 and rule.maximum == Decimal(500)


@pytest.mark.parametrize("raw", ["٣", "²", "1e3", "1.0", "9" * 40])
def test_whole_number_fields_take_ascii_digits_only(raw: str) -> None:
    from gridvend.web.backoffice.forms import MeterRegisterDetailsForm

    form = MeterRegisterDetailsForm(data={"ti": raw})
    assert not form.is_valid()
    assert "ti" in form.errors


def test_the_phone_field_reads_the_default_country_when_it_validates() -> None:
    from gridvend.web.fields import PhoneField

    field = PhoneField(required=False)
    assert field.clean("0745 275 900") == "+254745275900"
    assert field.clean("") == ""
    with override_settings(DEFAULT_COUNTRY="NG"):
        assert field.clean("0803 123 4567") == "+2348031234567"
        assert field.clean("+254 745 275 900") == "+254745275900"


@pytest.mark.parametrize("amount", ["1e700000", "NaN", "0", "-1", "1.0001"])
def test_debt_amount_is_read_by_the_bounded_parser(amount: str) -> None:
    from gridvend.web.backoffice.forms import DebtForm

    form = DebtForm(data={"amount": amount, "reason": "Arrears"})
    assert not form.is_valid()
    assert "amount" in form.errors


@pytest.mark.parametrize(
    "url", ["/cashier/sales/%00/", "/receipts/%00/thermal/", "/customers/?q=a%00b", "/x%00/"]
)
def test_a_nul_in_the_address_is_a_400_at_the_door(world: World, url: str) -> None:
    response = _client(world.admin).get(url)
    assert response.status_code == 400


@pytest.mark.parametrize("name", ["x" * 81, "a\x00b", "Zone\u202e"])
def test_level_names_are_read_as_bounded_text(world: World, name: str) -> None:
    before = list(OrgLevel.objects.values_list("name", flat=True))
    response = _client(world.admin).post("/org/levels/", {"action": "add", "name": name})
    assert response.status_code == 200
    assert list(OrgLevel.objects.values_list("name", flat=True)) == before


# --- found in review of the above --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/customers/", "/premises/", "/debts/", "/supervisor/", "/"])
def test_every_signed_in_page_is_not_stored(world: World, path: str) -> None:
    response = _client(world.admin).get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_an_extra_decimal_place_says_how_many_the_currency_has(world: World) -> None:
    fresh = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    response = _client(fresh).post(
        "/cashier/", {"vending_point": world.point.pk, "opening_float": "10.555"}
    )
    assert "at most 2 decimal places" in response.content.decode()
    assert not Shift.objects.filter(operator=fresh).exists()


def test_debt_amount_has_a_ceiling_from_settings(world: World) -> None:
    from gridvend.web.backoffice.forms import DebtForm

    with override_settings(MAX_DEBT_AMOUNT=1000):
        assert not DebtForm(data={"amount": "1000.01", "reason": "Arrears"}).is_valid()
        assert DebtForm(data={"amount": "1000.00", "reason": "Arrears"}).is_valid()


def test_import_confirmation_with_a_non_ascii_token_is_a_message(world: World) -> None:
    client = _client(world.admin)
    session = client.session
    session["gv_import"] = {"token": "abc", "kind": "customers", "rows": []}
    session.save()
    response = client.post("/imports/confirm/", {"token": "²"})
    assert response.status_code == 302
