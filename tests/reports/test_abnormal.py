"""The abnormal-customers report: each of its four rules against what the test sold and reported
through the vending and faults services, checked by sums and medians worked out here from the raw
sales; a bounded ``days`` filter; and a business unit's manager never seeing another unit's rows.

Customers are created at the real present (their ``created_at``), so the sales of these tests
are made at instants after it, and the period ends about 200 days from today."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Role
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.inputs import InvalidInput
from gridvend.meters import faults
from gridvend.meters.models import Meter
from gridvend.reports.base import REPORTS, RowRole
from gridvend.reports.filters import today
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from tests import factories
from tests.reports.support import ZONE, Scene, scene

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo(ZONE)


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def build(actor: Any, **query: Any) -> Any:
    spec = REPORTS["abnormal-customers"]
    values = spec.filterset({k: str(v) for k, v in query.items()}).values()
    return spec.build(actor, values)


def findings(result: Any) -> list[tuple[str, str, str]]:
    return [
        (str(r.cells["rule"]), str(r.cells["customer"]), str(r.cells["meter"]))
        for r in result.tables[0].rows
        if r.role == RowRole.DETAIL
    ]


def customer_of(meter: Meter) -> str:
    c = meter.customer
    assert c is not None
    return f"{c.name} ({c.account_number})"


class Timeline:
    """Sales at noon London time on days counted back from the period's last day."""

    def __init__(self, s: Scene) -> None:
        self.s = s
        self.end = today() + timedelta(days=200)
        self.n = 0

    def instant(self, days_before_end: int) -> datetime:
        day = self.end - timedelta(days=days_before_end)
        return datetime.combine(day, time(12, 0), tzinfo=LONDON).astimezone(UTC)

    def sell(self, meter: Meter, days_before_end: int, major: str) -> Sale:
        self.n += 1
        w = self.s.world
        south = meter.org_unit_id == self.s.south_meter.org_unit_id
        return vending.vend_credit(
            actor=self.s.south_cashier if south else w.cashier,
            vending_point=self.s.south_point if south else w.point,
            client_reference=f"abnormal-{self.n}",
            meter_number=meter.number,
            tender=w.money(major),
            clock=FixedClock(self.instant(days_before_end)),
        ).sale


def _buying(s: Scene, t: Timeline | None = None) -> tuple[Timeline, dict[str, Meter]]:
    w = s.world
    t = t or Timeline(s)
    m = {
        "regular": s.north_meter,
        "silent": s.north_meter_2,
        "dropping": w.add_meter(name="Dropping"),
        "heavy": w.add_meter(name="Heavy"),
        "light": w.add_meter(name="Light"),
        "south": s.south_meter,
    }
    for days in (110, 80, 50, 20, 5):
        t.sell(m["regular"], days, "1000")
    t.sell(m["silent"], 100, "1000")  # then nothing for 100 days
    for days in (100, 70, 40):
        t.sell(m["dropping"], days, "6000")
    t.sell(m["dropping"], 10, "1000")  # 1,000 against an average of 6,000 per 30 days
    t.sell(m["heavy"], 3, "30000")
    t.sell(m["light"], 4, "1500")
    t.sell(m["south"], 90, "1000")  # silent too, in the south
    return t, m


def test_each_rule_fires_for_the_customers_it_describes() -> None:
    s = scene()
    t, m = _buying(s)
    period = {"date_from": t.end - timedelta(days=29), "date_to": t.end}
    found = findings(build(s.world.admin, **period))
    silent = {c for rule, c, _m in found if rule == "No purchase"}
    assert silent == {customer_of(m["silent"]), customer_of(m["south"])}
    # Independently: credit per customer in the last 30 days and in the 90 before them; a
    # customer who stopped buying has dropped too.
    recent_from = t.instant(29) - timedelta(hours=12)
    history_from = t.instant(119) - timedelta(hours=12)
    recent: dict[int, int] = {}
    before: dict[int, int] = {}
    for sale in Sale.objects.filter(kind="credit", created_at__gte=history_from):
        assert sale.customer_id is not None
        into = recent if sale.created_at >= recent_from else before
        into[sale.customer_id] = into.get(sale.customer_id, 0) + sale.tender_minor
    dropped = {c for c, b in before.items() if Decimal(recent.get(c, 0)) * 3 < Decimal(b) / 2}
    assert dropped == {m[k].customer_id for k in ("dropping", "silent", "south")}
    drops = {c for rule, c, _m in found if rule == "Sudden drop"}
    assert drops == {customer_of(m[k]) for k in ("dropping", "silent", "south")}
    # Independently: kWh per customer of the tariff in the period, and its median.
    start = t.instant(29) - timedelta(hours=12)
    kwh: dict[int, Decimal] = {}
    for sale in Sale.objects.filter(created_at__gte=start, kind="credit"):
        assert sale.customer_id is not None
        kwh[sale.customer_id] = kwh.get(sale.customer_id, Decimal(0)) + sale.kwh
    median = Decimal(statistics.median(kwh.values()))
    heavy_ids = {c for c, k in kwh.items() if k > 3 * median}
    assert heavy_ids == {m["heavy"].customer_id}
    heavy = [(c, meter) for rule, c, meter in found if rule == "Far above the norm"]
    assert heavy == [(customer_of(m["heavy"]), m["heavy"].number)]
    assert not [f for f in found if f[0] == "Repeated faults"]
    total = build(s.world.admin, **period).tables[0].rows[-1]
    assert total.role == RowRole.TOTAL and total.cells["count"] == len(found)


def test_the_silent_customer_shows_the_last_purchase() -> None:
    s = scene()
    t, m = _buying(s)
    result = build(s.world.admin, date_from=t.end, date_to=t.end)
    rows = [
        r.cells
        for r in result.tables[0].rows
        if r.cells.get("rule") == "No purchase" and r.cells["meter"] == m["silent"].number
    ]
    assert [r["last_purchase"] for r in rows] == [t.instant(100)]


def test_days_moves_the_no_purchase_window_and_is_bounded() -> None:
    s = scene()
    t, m = _buying(s)
    admin = s.world.admin
    # Over 120 days the silent customer bought (100 days ago); over 30 the dropping one did not.
    long = findings(build(admin, date_from=t.end, date_to=t.end, days=120))
    assert customer_of(m["silent"]) not in {c for r, c, _m in long if r == "No purchase"}
    short = findings(build(admin, date_from=t.end, date_to=t.end, days=9))
    silent = {c for r, c, _m in short if r == "No purchase"}
    assert customer_of(m["dropping"]) in silent
    assert customer_of(m["regular"]) not in silent  # bought 5 days before the end
    for bad in ("0", "-1", "3661", "1e3", "٣", "x" * 40):
        with pytest.raises(InvalidInput) as err:
            build(admin, days=bad)
        assert err.value.params["field"] == "days"


def test_a_meter_with_three_fault_reports_in_the_period_is_flagged() -> None:
    s = scene()
    w = s.world
    for text in ("no supply", "no supply again", "display blank"):
        faults.register_fault(actor=w.supervisor, meter=s.north_meter, description=text)
    for text in ("keypad", "keypad again"):
        faults.register_fault(actor=w.supervisor, meter=s.north_meter_2, description=text)
    day = today()
    result = build(w.admin, date_from=day, date_to=day)
    rows = [r.cells for r in result.tables[0].rows if r.cells.get("rule") == "Repeated faults"]
    assert [(r["meter"], r["customer"]) for r in rows] == [
        (s.north_meter.number, customer_of(s.north_meter))
    ]
    assert "3 fault reports" in str(rows[0]["detail"])
    yesterday = build(w.admin, date_from=day - timedelta(days=1), date_to=day - timedelta(days=1))
    assert not [r for r in yesterday.tables[0].rows if r.cells.get("rule") == "Repeated faults"]


def test_a_business_unit_manager_never_sees_another_units_customers() -> None:
    s = scene()
    t, m = _buying(s)
    tree = s.world.tree
    manager = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    found = findings(build(manager, date_from=t.end - timedelta(days=29), date_to=t.end))
    assert customer_of(m["south"]) not in {c for _r, c, _m in found}
    assert customer_of(m["silent"]) in {c for _r, c, _m in found}
    with pytest.raises(NotFound):
        build(manager, unit=tree.south.pk)
    # A vending point is not a filter of this report (its rules are not about where customers
    # bought): the south's point in the query changes nothing and reveals nothing.
    assert findings(build(manager, point=s.south_point.pk, date_to=t.end)) == findings(
        build(manager, date_to=t.end)
    )
