"""What a receipt says, built from the stored sale: tokens, breakdown, QR code, times."""

from __future__ import annotations

from decimal import Decimal

import pytest
import segno
from django.test import override_settings

from gridvend.identity.roles import Capability
from gridvend.sts.simulator import ResultCode
from gridvend.vending.models import TokenKind
from gridvend.web.receipts.render import (
    build_receipt,
    group_digits,
    make_qr,
    percent,
    receipt_urls,
)
from tests import factories
from tests.receipts.helpers import give, sell
from tests.world import World

pytestmark = pytest.mark.django_db


def test_receipt_tokens_are_the_stored_tokens_in_order(world: World) -> None:
    meter = world.add_meter()
    sale = sell(world, meter)
    data = build_receipt(sale)
    stored = list(sale.tokens.order_by("sequence"))
    assert [t.digits for t in data.tokens] == [t.digits for t in stored]
    assert [t.kind for t in data.tokens] == [t.kind for t in stored]
    assert [t.tid for t in data.tokens] == [t.tid for t in stored]
    for token in data.tokens:
        assert "".join(token.groups) == token.digits
        assert all(len(group) == 4 for group in token.groups)
        assert token.grouped == " ".join(token.groups)


def test_credit_token_on_the_receipt_is_accepted_by_the_meter(world: World) -> None:
    meter = world.add_meter()
    data = build_receipt(sell(world, meter))
    simulator = world.simulator(meter)
    credit = [t for t in data.tokens if t.kind == TokenKind.CREDIT]
    assert len(credit) == 1
    # Typed in as printed, spaces and all.
    result = simulator.enter(credit[0].grouped)
    assert result.code == ResultCode.ACCEPTED
    assert result.amount == credit[0].units


def test_every_energy_token_on_the_receipt_is_accepted_and_adds_up(world: World) -> None:
    meter = world.add_meter()
    data = build_receipt(sell(world, meter))  # first sale of the month carries the FBE token
    kinds = [t.kind for t in data.tokens]
    assert TokenKind.FBE in kinds
    simulator = world.simulator(meter)
    accepted = Decimal(0)
    for token in data.tokens:
        result = simulator.enter("".join(token.groups))
        assert result.code == ResultCode.ACCEPTED
        assert result.amount is not None
        accepted += result.amount
    assert accepted == data.total_kwh
    assert data.fbe_kwh > 0


def test_breakdown_on_the_receipt_adds_up_to_the_tender(world: World) -> None:
    meter = world.add_meter()
    sale = sell(world, meter, "1000.00")
    data = build_receipt(sale)
    assert data.has_breakdown
    exclusive_taxes = sum(t.amount.minor for t in data.taxes if not t.inclusive)
    parts = (
        data.fixed_charges_total.minor
        + data.debt_recovered.minor
        + exclusive_taxes
        + data.energy_total.minor
    )
    assert parts == data.tender.minor == sale.tender_minor
    assert sum(e.amount.minor for e in data.energy) == data.energy_total.minor
    assert [t.rate_percent for t in data.taxes] == ["16"]
    assert data.fixed_charges[0].name == "Service charge"
    assert data.payment_method == "cash"


def test_receipt_names_the_customer_meter_point_and_operator(world: World) -> None:
    meter = world.add_meter(name="Amina Wanjiru")
    sale = sell(world, meter)
    data = build_receipt(sale)
    customer = world.customer(meter)
    assert data.customer_name == "Amina Wanjiru"
    assert data.account_number == customer.account_number
    assert data.premise_address == "1 Test Rd"
    assert data.meter_number == meter.number
    assert data.vending_point_name == world.point.name
    assert data.vending_point_code == world.point.code
    assert data.operator_name == world.cashier.full_name
    assert data.receipt_number == sale.reference
    assert not data.is_reprint
    assert not data.is_reversed


@override_settings(TIME_ZONE="Asia/Riyadh", UTILITY_NAME="Test Power")
def test_receipt_time_is_in_the_utility_time_zone(world: World) -> None:
    data = build_receipt(sell(world, world.add_meter()))
    # The world's clock is 09:30 UTC: 12:30 in Riyadh.
    assert data.issued_at_text.startswith("2026-06-15 12:30:00")
    assert data.utility_name == "Test Power"


def test_qr_is_built_from_the_receipt_number(world: World) -> None:
    sale = sell(world, world.add_meter())
    data = build_receipt(sale)
    expected = segno.make(sale.reference, error="m", micro=False)
    assert data.qr_text == sale.reference
    assert data.qr_matrix == tuple(tuple(bool(c) for c in row) for row in expected.matrix)
    assert data.qr_svg_data_uri == expected.svg_data_uri(scale=3, border=2)
    other = segno.make(sale.reference + "X", error="m", micro=False)
    assert data.qr_matrix != tuple(tuple(bool(c) for c in row) for row in other.matrix)
    assert make_qr(sale.reference).matrix == expected.matrix


def test_receipt_urls_point_at_the_thermal_page_and_the_pdf(world: World) -> None:
    sale = sell(world, world.add_meter())
    assert receipt_urls(sale) == {
        "thermal": f"/receipts/{sale.reference}/thermal/",
        "pdf": f"/receipts/{sale.reference}/pdf/",
    }


def test_digits_are_grouped_in_fours() -> None:
    assert group_digits("12345678901234567890") == ("1234", "5678", "9012", "3456", "7890")
    assert percent("0.16") == "16"
    assert percent("0.075") == "7.5"


def test_free_issue_receipt_has_the_reason_and_no_money(world: World) -> None:
    issuer = factories.user(world.unit, capabilities=(Capability.FINANCE,))
    meter = world.add_meter()
    data = build_receipt(give(world, meter, issuer, kwh="20"))
    assert data.kind == "free_issue"
    assert data.reason == "outage compensation"
    assert not data.has_breakdown
    assert data.tender.is_zero()
    assert [t.kind for t in data.tokens][-1] == TokenKind.FREE_ISSUE
    result = world.simulator(meter).enter(data.tokens[-1].grouped)
    assert result.code == ResultCode.ACCEPTED
    assert data.total_kwh == Decimal("20.0")
