"""The abnormal-customers report's readings rules (issue 13): meters whose register disagrees
with the energy sold to them between their first and last readings of the period, checked against
register differences and sale kWh added up here from the raw rows, in both directions, through a
register roll-over and a reversal; a meter without two readings never flagged; the south never
seen from the north. Also the report's own filters (only those its rules read) and the sudden
drop's last purchase."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.meters import services as meter_services
from gridvend.meters.models import Meter
from gridvend.readings import services as readings
from gridvend.reports.abnormal import (
    BOUGHT_MULTIPLE,
    USED_ALLOWANCE_KWH,
    USED_TOLERANCE,
    AbnormalFilterSet,
)
from gridvend.reports.base import RowRole
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from tests import factories
from tests.reports.support import ZONE, scene
from tests.reports.test_abnormal import Timeline, _buying, build, customer_of
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


class Reads:
    """Readings at noon London time, days before the period's end (in the future, like the
    report tests' sales: recorded with ``now`` just after the period)."""

    def __init__(self, t: Timeline, unit: Any) -> None:
        self.t = t
        self.reader = factories.user(unit, Role.OPERATOR, (Capability.METER_READER,))
        self.now = t.instant(0) + timedelta(days=1)

    def __call__(self, meter: Meter, *points: tuple[int, str], reader: Any = None) -> None:
        for days, value in points:
            readings.record_reading(
                actor=reader or self.reader,
                meter=meter,
                register_kwh=Decimal(value),
                read_at=self.t.instant(days),
                now=self.now,
            )


def bought(meter: Meter, first: datetime, last: datetime) -> Decimal:
    """kWh of the meter's credit sales, not reversed, from ``first`` up to ``last``."""
    return sum(
        (
            s.kwh
            for s in Sale.objects.filter(meter=meter, kind="credit", status="completed")
            if first <= s.created_at < last
        ),
        Decimal(0),
    )


def mismatches(result: Any) -> dict[str, tuple[str, Decimal, Decimal]]:
    return {
        str(r.cells["meter"]): (str(r.cells["rule"]), r.cells["used_kwh"], r.cells["bought_kwh"])
        for r in result.tables[0].rows
        if r.role == RowRole.DETAIL and "used_kwh" in r.cells
    }


def test_meters_whose_readings_disagree_with_their_sales_are_flagged_both_ways() -> None:
    s = scene()
    w = s.world
    t = Timeline(s)
    read = Reads(t, w.unit)
    bypass, hoarder, honest, rolled, once = (
        w.add_meter(name=n) for n in ("Bypass", "Hoarder", "Honest", "Rolled", "Once")
    )
    meter_services.update_meter(actor=w.admin, meter=rolled, register_digits=5)
    rolled.refresh_from_db()
    t.sell(bypass, 50, "500")
    big = t.sell(bypass, 45, "30000")
    vending.reverse_sale(
        actor=w.supervisor, sale=big, reason="wrong meter typed", clock=FixedClock(t.instant(44))
    )
    t.sell(hoarder, 40, "30000")
    t.sell(honest, 40, "3000")
    t.sell(rolled, 40, "500")
    t.sell(once, 40, "30000")
    t.sell(s.south_meter, 40, "500")
    honest_kwh = bought(honest, t.instant(60), t.instant(1))
    half = (honest_kwh / 2).quantize(Decimal("0.01"))
    read(bypass, (60, "1000"), (30, "3000"), (1, "5000"))
    read(hoarder, (60, "1000"), (30, "1010"), (1, "1020"))
    read(honest, (60, "1000"), (30, f"{1000 + half}"), (1, f"{1000 + honest_kwh}"))
    read(rolled, (60, "99000"), (30, "99900"), (1, "700"))
    read(once, (30, "1000"))
    south_reader = factories.user(w.tree.south_sc, Role.OPERATOR, (Capability.METER_READER,))
    read(s.south_meter, (60, "1000"), (30, "3000"), (1, "5000"), reader=south_reader)

    # Independently: register differences (through zero for the 5-digit register) and sales.
    used = {
        bypass: Decimal(5000 - 1000),
        hoarder: Decimal(1020 - 1000),
        honest: honest_kwh,
        rolled: Decimal((99900 - 99000) + (700 + 100000 - 99900)),
        s.south_meter: Decimal(4000),
    }
    sold = {m: bought(m, t.instant(60), t.instant(1)) for m in used}
    expected = {}
    for meter, kwh in used.items():
        if kwh > sold[meter] * (1 + USED_TOLERANCE) + USED_ALLOWANCE_KWH:
            expected[meter.number] = ("Used more than bought", kwh, sold[meter])
        elif sold[meter] > BOUGHT_MULTIPLE * kwh + USED_ALLOWANCE_KWH:
            expected[meter.number] = ("Bought far more than used", kwh, sold[meter])
    # What the scene was built to show, so the independent sums cannot all be wrong together.
    assert set(expected) == {bypass.number, hoarder.number, rolled.number, s.south_meter.number}
    assert expected[hoarder.number][0] == "Bought far more than used"

    period = {"date_from": t.end - timedelta(days=90), "date_to": t.end}
    found = mismatches(build(w.admin, **period))
    assert found == expected
    # A business unit manager sees only their own unit's meters.
    manager = factories.user(w.tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    north = mismatches(build(manager, **period))
    assert set(north) == set(expected) - {s.south_meter.number}
    # A period holding one reading of each meter flags nothing.
    assert mismatches(build(w.admin, date_from=t.end - timedelta(days=10), date_to=t.end)) == {}


def test_the_report_declares_only_the_filters_its_rules_read() -> None:
    assert set(AbnormalFilterSet({}).filters) == {"date_from", "date_to", "unit", "tariff", "days"}
    s = scene()
    admin = signed_in(s.world.admin)
    assert isinstance(admin, Client)
    body = admin.get("/reports/abnormal-customers/").content.decode()
    for shown in ("date_from", "date_to", "unit", "tariff", "days"):
        assert f'name="{shown}"' in body
    for hidden in ("point", "operator", "channel", "partner", "sgc", "ti", "group"):
        assert f'name="{hidden}"' not in body
    # The sales report keeps all of them.
    sales = admin.get("/reports/sales/").content.decode()
    assert 'name="point"' in sales and 'name="group"' in sales


def test_a_sudden_drop_shows_the_customers_last_purchase() -> None:
    s = scene()
    t, m = _buying(s)
    result = build(s.world.admin, date_from=t.end, date_to=t.end)
    rows = {
        r.cells["customer"]: r.cells["last_purchase"]
        for r in result.tables[0].rows
        if r.cells.get("rule") == "Sudden drop"
    }
    # Independently: the latest credit sale of the customer before the period's end.
    last = max(
        sale.created_at
        for sale in Sale.objects.filter(customer=m["dropping"].customer, kind="credit")
    )
    assert last == t.instant(10)
    assert rows[customer_of(m["dropping"])] == last
