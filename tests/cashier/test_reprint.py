"""Reprint by meter number at the counter: type the meter, see its recent sales in the cashier's
area, print one again. The receipt's own rules apply: the seller's print is a REPRINT and is
audited as one; a colleague's sale prints as a COPY, masked unless they may see tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability, Role
from gridvend.vending import shifts
from gridvend.vending.models import Sale
from tests import factories
from tests.receipts.helpers import sell
from tests.signin import signed_in as _client
from tests.world import World

pytestmark = pytest.mark.django_db


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-reference="(\w+)">', html)


def _events(sale: Sale, event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type, target_id=str(sale.pk)).count()


def test_the_till_links_to_the_reprint_screen(world: World) -> None:
    html = _client(world.cashier).get("/cashier/").content.decode()
    assert 'id="reprint-link"' in html and 'href="/cashier/reprint/"' in html


def test_a_meter_number_lists_that_meters_recent_sales_newest_first(world: World) -> None:
    meter, other = world.add_meter(), world.add_meter()
    sales = []
    for amount in ("300.00", "400.00", "500.00"):
        sales.append(sell(world, meter, amount))
        world.clock.advance(timedelta(minutes=5))
    sell(world, other, "600.00")
    client = _client(world.cashier)
    number = meter.number
    spaced = f"{number[:4]} {number[4:8]}-{number[8:]}"
    html = client.get("/cashier/reprint/", {"meter": spaced}).content.decode()
    assert _rows(html) == [s.reference for s in reversed(sales)]
    assert "KES 500.00" in html and "KES 600.00" not in html
    # The seller's own sales are reprints, printed without leaving the screen.
    for sale in sales:
        assert f'href="/receipts/{sale.reference}/thermal/?reprint=1"' in html
    assert html.count("data-print-frame") == 3
    assert "Print a copy" not in html


def test_only_the_ten_latest_sales_are_listed(world: World) -> None:
    meter = world.add_meter()
    for _ in range(12):
        sell(world, meter, "300.00")
        world.clock.advance(timedelta(minutes=1))
    html = _client(world.cashier).get("/cashier/reprint/", {"meter": meter.number}).content
    assert len(_rows(html.decode())) == 10


def test_reprinting_ones_own_sale_is_a_reprint_and_audited(world: World) -> None:
    sale = sell(world, world.add_meter())
    client = _client(world.cashier)
    client.get(f"/receipts/{sale.reference}/thermal/")  # the original, at the time of sale
    html = client.get(f"/receipts/{sale.reference}/thermal/?reprint=1").content.decode()
    assert '<div class="alert-banner" role="status">REPRINT</div>' in html
    assert _events(sale, "sale.reprinted") == 1


def test_a_colleagues_sale_prints_as_a_masked_copy(world: World) -> None:
    sale = sell(world, world.add_meter())
    colleague = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    shifts.open_shift(actor=colleague, vending_point=world.point, opening_float=world.money("0"))
    client = _client(colleague)
    html = client.get("/cashier/reprint/", {"meter": sale.meter.number}).content.decode()
    assert _rows(html) == [sale.reference]
    assert "Print a copy" in html
    receipt = client.get(f"/receipts/{sale.reference}/thermal/?reprint=1").content.decode()
    assert '<div class="alert-banner" role="status">COPY</div>' in receipt
    for token in sale.tokens.all():
        assert token.digits not in receipt and token.grouped not in receipt
    sale.refresh_from_db()
    assert sale.receipt_printed_at is None
    assert _events(sale, "sale.reprinted") == 0 and _events(sale, "receipt.viewed") == 1


def test_a_bad_meter_number_is_refused_at_the_form(world: World) -> None:
    client = _client(world.cashier)
    for value in ("12345", "abcdefghijk", "0" * 40, "0410\u202e0000027"):
        response = client.get("/cashier/reprint/", {"meter": value})
        assert response.status_code == 200
        html = response.content.decode()
        assert _rows(html) == [] and 'role="alert"' in html, value


def test_screen_access_and_scope(world: World) -> None:
    sale = sell(world, world.add_meter())
    url = f"/cashier/reprint/?meter={sale.meter.number}"
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    auditor = factories.user(world.unit, Role.OPERATOR, (Capability.AUDITOR,))
    assert _client(auditor).get(url).status_code == 403
    south = factories.user(world.tree.south, Role.VENDING_POINT_MANAGER, (Capability.CASHIER,))
    html = _client(south).get(url).content.decode()
    assert _rows(html) == [] and 'id="no-sales"' in html and sale.reference not in html
    events = AuditEvent.objects.count()
    response = _client(world.cashier).get(url)
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.count() == events  # listing prints nothing
