"""Old sales are reachable from the screens: the customer's and the meter's lists of sales and
the cashier's last purchases link to the sale's page, which offers its receipt again."""

from __future__ import annotations

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
from tests.receipts.helpers import sell
from tests.vending.world import World

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
    client_for(world.supervisor).get(f"/receipts/{sale.reference}/thermal/")
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
