"""Old sales and closed shifts are reachable from the screens: every list of sales links to the
sale's page with its reprint, a closed shift offers its Z report, and tender types are shown by
their names in every language, never as codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import Sale, Shift
from tests import factories
from tests.receipts import pdftools
from tests.receipts.helpers import sell
from tests.world import World

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]


def _link(sale: Sale) -> str:
    return f'href="/receipts/{sale.reference}/"'


def _shift(world: World) -> Shift:
    shift = shifts.current_shift(world.cashier)
    assert shift is not None
    return shift


# --- the sale's page ------------------------------------------------------------------------


def test_the_sale_page_offers_the_receipt_and_records_nothing(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter(), "800.00", method="mobile_money")
    events = AuditEvent.objects.count()
    html = client_for(world.supervisor).get(f"/receipts/{sale.reference}/").content.decode()
    assert sale.reference in html and "Mobile money" in html
    assert f'href="/receipts/{sale.reference}/thermal/"' in html  # the first print: the original
    for token in sale.tokens.all():
        assert token.digits not in html and token.grouped not in html  # only the audited print
    assert AuditEvent.objects.count() == events
    # The seller's print is the original (anyone else's view is a copy and prints nothing).
    client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/")
    again = client_for(world.supervisor).get(f"/receipts/{sale.reference}/").content.decode()
    assert f'href="/receipts/{sale.reference}/thermal/?reprint=1"' in again
    assert f'href="/receipts/{sale.reference}/pdf/?reprint=1"' in again
    assert f'href="/receipts/shifts/{sale.shift_id}/"' in again


def test_the_sale_page_is_scoped(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    assert Client().get(f"/receipts/{sale.reference}/").status_code == 302
    south = factories.user(world.tree.south, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,))
    assert client_for(south).get(f"/receipts/{sale.reference}/").status_code == 404
    assert client_for(world.cashier).get("/receipts/SNOSUCHSALE1/").status_code == 404


def test_the_sale_page_says_where_a_refund_was_paid(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter(), "500.00")
    shifts.close_shift(actor=world.cashier, shift=_shift(world), counted={})
    world.clock.advance(timedelta(hours=1))
    vending.reverse_sale(actor=world.supervisor, sale=sale, reason="paid twice", clock=world.clock)
    html = client_for(world.supervisor).get(f"/receipts/{sale.reference}/").content.decode()
    assert 'id="refund-paid-from"' in html
    assert "paid back by the back office" in html and world.point.name in html


# --- every list of sales links to it -------------------------------------------------------


def test_customer_and_meter_pages_link_each_sale(world: World, client_for: ClientFor) -> None:
    meter = world.add_meter()
    sale = sell(world, meter)
    customer = world.customer(meter)
    admin = client_for(world.admin)
    assert _link(sale) in admin.get(f"/customers/{customer.pk}/").content.decode()
    assert _link(sale) in admin.get(f"/meters/{meter.pk}/").content.decode()


def test_the_cashiers_last_purchases_link_each_sale(world: World, client_for: ClientFor) -> None:
    meter = world.add_meter()
    sale = sell(world, meter)
    html = client_for(world.cashier).get(f"/cashier/meters/{meter.number}/").content.decode()
    assert _link(sale) in html


def test_shift_tables_link_each_sale_and_the_closed_shift_its_z_report(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    cashier = client_for(world.cashier)
    assert _link(sale) in cashier.get("/cashier/shift/").content.decode()
    shift = shifts.close_shift(actor=world.cashier, shift=_shift(world), counted={})
    closed = cashier.get(f"/cashier/shifts/{shift.pk}/").content.decode()
    assert _link(sale) in closed
    assert f'href="/receipts/shifts/{shift.pk}/"' in closed
    assert f'href="/receipts/shifts/{shift.pk}/pdf/"' in closed
    assert _link(sale) in cashier.get(f"/receipts/shifts/{shift.pk}/").content.decode()
    detail = client_for(world.supervisor).get(f"/supervisor/shifts/{shift.pk}/").content.decode()
    assert _link(sale) in detail and f'href="/receipts/shifts/{shift.pk}/"' in detail


# --- tender types by name -------------------------------------------------------------------


def _codes_in_cells(html: str) -> list[str]:
    return re.findall(r">\s*(cash|card|mobile_money|cheque|transfer)\s*<", html)


LABELS = [("en", "Mobile money"), ("ar", "محفظة الهاتف المحمول"), ("zh-hans", "移动支付")]


@pytest.mark.parametrize(("language", "label"), LABELS)
def test_shift_tables_and_z_reports_name_the_tender_types(
    world: World, client_for: ClientFor, language: str, label: str
) -> None:
    sell(world, world.add_meter(), "300.00", method="mobile_money")
    sell(world, world.add_meter(), "200.00", method="cash")
    shift = shifts.close_shift(
        actor=world.cashier,
        shift=_shift(world),
        counted={"cash": world.money("1200.00"), "mobile_money": world.money("300.00")},
    )
    client = client_for(world.cashier)
    client.cookies["django_language"] = language
    pages = [
        client.get(f"/cashier/shifts/{shift.pk}/").content.decode(),
        client.get(f"/receipts/shifts/{shift.pk}/").content.decode(),
    ]
    supervisor = client_for(world.supervisor)
    supervisor.cookies["django_language"] = language
    pages.append(supervisor.get(f"/supervisor/shifts/{shift.pk}/").content.decode())
    for html in pages:
        assert label in html
        assert _codes_in_cells(html) == []


@pdftools.needs_poppler
def test_the_z_report_pdf_names_the_tender_types(world: World, client_for: ClientFor) -> None:
    sell(world, world.add_meter(), "300.00", method="mobile_money")
    shift = shifts.close_shift(actor=world.cashier, shift=_shift(world), counted={})
    body = client_for(world.cashier).get(f"/receipts/shifts/{shift.pk}/pdf/").content
    text = pdftools.text(body)
    assert "Mobile money" in text and "mobile_money" not in text
