"""Usage (issue 18 point 5): money paid and kWh bought per month for the login's own meters,
beside the same month a year before and the customer's average month, as server-drawn SVG
charts (no script) and a table; another customer's meter number shows nothing of theirs."""

from __future__ import annotations

import base64
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gridvend.logins import purchases
from gridvend.logins.models import CustomerLogin
from gridvend.vending import services as vending
from tests.portal.conftest import Portal
from tests.receipts.helpers import sell

pytestmark = pytest.mark.django_db


def _month(moment: object) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"  # type: ignore[attr-defined]


def test_usage_per_month_against_the_year_before_and_the_average(portal: Portal) -> None:
    world = portal.paybill.world
    amina_client = portal.sign_up(portal.meter, "amina")
    amina = CustomerLogin.objects.get(username="amina")
    now = timezone.now()
    world.clock.set(now - timedelta(days=365))
    year_before = sell(world, portal.meter, "400.00")
    world.clock.set(now)
    this = sell(world, portal.meter, "600.00")
    reversed_ = sell(world, portal.meter, "350.00")
    vending.reverse_sale(actor=world.supervisor, sale=reversed_, reason="typo", clock=world.clock)
    sell(world, portal.other, "900.00")  # Brian's: never in hers
    usage = purchases.monthly_usage(amina, this_month=this.business_month)
    assert [m.month for m in usage.months][-1] == this.business_month
    assert len(usage.months) == 12
    last = usage.months[-1]
    assert last.paid_minor == this.tender_minor  # the reversed sale gave its money back
    assert last.kwh == this.kwh
    assert last.year_before_paid_minor == year_before.tender_minor
    assert last.year_before_kwh == year_before.kwh
    assert usage.average_paid_minor == this.tender_minor // 12
    assert usage.average_kwh == (this.kwh / 12).quantize(Decimal("0.1"))
    page = amina_client.get("/portal/usage/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="money-chart"' in body and 'id="kwh-chart"' in body
    assert this.business_month in body
    src = body.split('id="money-chart" src="data:image/svg+xml;base64,')[1].split('"')[0]
    svg = base64.b64decode(src).decode()
    assert svg.startswith("<svg") or "<svg" in svg[:500]
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org", "")


def test_usage_of_another_customers_meter_is_never_shown(portal: Portal) -> None:
    world = portal.paybill.world
    world.clock.set(timezone.now())
    amina = portal.sign_up(portal.meter, "amina")
    sell(world, portal.other, "900.00")
    body = amina.get(f"/portal/usage/?meter={portal.other.number}").content.decode()
    assert 'id="usage-table"' not in body and "No purchases in these months yet." in body
    assert (
        purchases.monthly_usage(
            CustomerLogin.objects.get(username="amina"), this_month=_month(timezone.now())
        ).any
        is False
    )
    for hostile in ("x" * 500, "%27", "-1", "\u0663"):
        assert amina.get(f"/portal/usage/?meter={hostile}").status_code == 200
