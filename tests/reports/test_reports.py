"""Each figure report's totals against sums made here over the raw sales, reversals, debts and
ledger postings: after a reversal, across the March/April boundary and the spring daylight-saving
change of Europe/London, with and without the roll-up; and scoped to the reader's subtree."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.inputs import InvalidInput
from gridvend.reports import rollup
from gridvend.reports.base import REPORTS, RowRole, readable_reports
from gridvend.reports.filters import ReportFilterSet
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from tests import factories
from tests.reports.support import (
    LONDON,
    ZONE,
    Scene,
    at,
    expected_sales,
    local_day,
    posted,
    row_by,
    scene,
    standard_sales,
    total_row,
)

pytestmark = pytest.mark.django_db

SLUGS = ("sales", "free-issues", "purchases-by-sgc-ti", "debt-collection", "daily-summary")


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def build(slug: str, actor: Any, **query: Any) -> Any:
    values = ReportFilterSet({k: str(v) for k, v in query.items()}).values()
    return REPORTS[slug].build(actor, values)


def sold(s: Scene) -> Scene:
    standard_sales(s)
    return s


@pytest.fixture(params=["raw", "rolled-up", "half"])
def folded(request: Any) -> str:
    return str(request.param)


def _fold(how: str, s: Scene) -> None:
    """Fold none, all, or the first half of the sales (the rest is read raw)."""
    if how == "rolled-up":
        rollup.fold()
    elif how == "half":
        middle = s.sales[len(s.sales) // 2]
        rollup.fold(now=middle.created_at + timedelta(seconds=300))
        # The sales from the middle one on are left to the raw read.
        assert 0 < rollup.watermark().last_sale_id < middle.pk


def test_sales_totals_equal_the_raw_sales_and_the_books(folded: str) -> None:
    s = sold(scene())
    _fold(folded, s)
    root = s.world.tree.root
    result = build("sales", s.world.admin, date_from="2026-03-28", date_to="2026-04-02")
    e = expected_sales(date(2026, 3, 28), date(2026, 4, 2))[None]
    total = total_row(result)
    assert (total["count"], total["tender"], total["kwh"]) == (e.count, e.tender, e.kwh)
    assert (total["tax"], total["fixed"], total["debt"]) == (e.tax, e.fixed, e.debt)
    assert (total["reversed_count"], total["reversed"]) == (1, 160000)
    assert total["net"] == e.net == sum(sale.tender_minor for sale in s.sales) - 160000
    # Energy value and tax as the books have them (credits to revenue and tax accounts).
    in_period = [
        x
        for x in Sale.objects.filter(kind="credit")
        if date(2026, 3, 28) <= local_day(x.created_at) <= date(2026, 4, 2)
    ]
    assert total["energy"] == posted(in_period, "revenue:energy")
    assert total["tax"] == posted(in_period, "tax")
    assert result.tables[0].currency == s.world.tariff.currency
    assert result.generated_by == s.world.admin
    assert any("roll-up" in str(note) for note in result.notes)
    assert root.name in dict((str(k), v) for k, v in result.filters)["Organisation unit"]


def test_sales_per_level_of_the_tree_have_a_subtotal_per_unit() -> None:
    s = sold(scene())
    rollup.fold()
    tree = s.world.tree
    result = build("sales", s.world.admin, date_from="2026-03-01", date_to="2026-04-30")
    rows = result.tables[0].rows
    by_label = {str(r.cells["group"]): r for r in rows}
    north = expected_sales(date(2026, 3, 1), date(2026, 4, 30), unit_path=tree.north.path)[None]
    south = expected_sales(date(2026, 3, 1), date(2026, 4, 30), unit_path=tree.south.path)[None]
    assert by_label["North SC"].role == RowRole.DETAIL
    assert by_label["North SC"].depth == 2
    for label, depth in (("Total North BU", 1), ("Total North", 0)):
        assert by_label[label].role == RowRole.SUBTOTAL
        assert by_label[label].depth == depth
        assert by_label[label].cells["net"] == north.net
    assert by_label["Total South"].cells["tender"] == south.tender == 350000
    assert by_label["Total"].cells["net"] == north.net + south.net
    # Tree order: a unit's rows, then its subtotal, before the next region.
    labels = [str(r.cells["group"]) for r in rows]
    assert labels.index("North SC") < labels.index("Total North BU") < labels.index("Total North")
    assert labels.index("Total North") < labels.index("South SC")


def test_a_month_is_its_days_in_the_utility_time_zone(folded: str) -> None:
    s = sold(scene())
    _fold(folded, s)
    result = build(
        "sales", s.world.admin, date_from="2026-03-01", date_to="2026-04-30", group="month"
    )
    by_month = expected_sales(
        date(2026, 3, 1), date(2026, 4, 30), key=lambda sale, day: f"{day:%Y-%m}"
    )
    march, april = row_by(result, "2026-03"), row_by(result, "2026-04")
    assert march["tender"] == by_month["2026-03"].tender
    assert april["tender"] == by_month["2026-04"].tender
    # 23:30 UTC on 31 March is 00:30 on 1 April in London: April's, and so is its reversal.
    assert april["tender"] == 160000 + 180000
    assert (april["reversed_count"], april["reversed"]) == (1, 160000)
    assert march["count"] == 6


def test_the_days_around_the_spring_change_are_local_days(folded: str) -> None:
    s = sold(scene())
    _fold(folded, s)
    result = build(
        "sales",
        s.world.admin,
        date_from="2026-03-28",
        date_to="2026-03-31",
        group="day",
        unit=s.world.tree.north.pk,
    )
    by_day = expected_sales(
        date(2026, 3, 28),
        date(2026, 3, 31),
        unit_path=s.world.tree.north.path,
        key=lambda sale, day: day.isoformat(),
    )
    for day in ("2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"):
        assert row_by(result, day)["tender"] == by_day[day].tender
    # The 23-hour 29th holds 00:30 GMT and 23:30 BST; 23:30 UTC that day is the 30th.
    assert row_by(result, "2026-03-29")["tender"] == 120000 + 130000
    assert row_by(result, "2026-03-30")["tender"] == 140000


def test_grouping_by_point_operator_channel_partner_and_tariff_adds_up_to_the_total() -> None:
    s = sold(scene())
    rollup.fold()
    e = expected_sales(date(2026, 3, 1), date(2026, 4, 30))[None]
    for group in ("point", "operator", "channel", "partner", "tariff"):
        result = build(
            "sales", s.world.admin, date_from="2026-03-01", date_to="2026-04-30", group=group
        )
        details = [r for r in result.tables[0].rows if r.role == RowRole.DETAIL]
        assert sum(r.cells["tender"] for r in details) == e.tender, group
        assert total_row(result)["net"] == e.net, group
    points = build(
        "sales", s.world.admin, date_from="2026-03-01", date_to="2026-04-30", group="point"
    )
    assert row_by(points, str(s.south_point))["tender"] == 350000
    cashiers = build(
        "sales", s.world.admin, date_from="2026-03-01", date_to="2026-04-30", group="operator"
    )
    south = s.south_cashier
    assert row_by(cashiers, f"{south.full_name} ({south.username})")["count"] == 2


def test_filters_narrow_the_sales_to_the_point_operator_and_key() -> None:
    s = sold(scene())
    rollup.fold()
    admin = s.world.admin
    period = {"date_from": "2026-03-01", "date_to": "2026-04-30"}
    assert total_row(build("sales", admin, point=s.south_point.pk, **period))["tender"] == 350000
    assert total_row(build("sales", admin, operator=s.south_cashier.pk, **period))["count"] == 2
    north = expected_sales(date(2026, 3, 1), date(2026, 4, 30), unit_path=s.world.tree.north.path)[
        None
    ]
    assert (
        total_row(build("sales", admin, point=s.world.point.pk, **period))["tender"] == north.tender
    )
    assert total_row(build("sales", admin, sgc="600675", ti=1, **period))["count"] == 8
    assert total_row(build("sales", admin, sgc="123456", **period))["count"] == 0
    assert total_row(build("sales", admin, channel="bank", **period))["count"] == 0
    by_tariff = build("sales", admin, tariff=s.world.tariff.pk, **period)
    assert total_row(by_tariff)["count"] == 8


def test_a_business_unit_manager_never_sees_another_units_figures() -> None:
    s = sold(scene())
    rollup.fold()
    tree = s.world.tree
    manager = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    period = {"date_from": "2026-03-01", "date_to": "2026-04-30"}
    north = expected_sales(date(2026, 3, 1), date(2026, 4, 30), unit_path=tree.north_bu.path)
    for slug in SLUGS:
        result = build(
            slug, manager, **period, **({"group": "month"} if slug == "daily-summary" else {})
        )
        text = repr([r.cells for t in result.tables for r in t.rows])
        assert "South" not in text, slug
    result = build("sales", manager, **period)
    assert total_row(result)["tender"] == north[None].tender
    for unit in (tree.south_bu, tree.south_sc, tree.root):
        with pytest.raises(NotFound):
            build("sales", manager, unit=unit.pk, **period)
    with pytest.raises(NotFound):
        build("sales", manager, point=s.south_point.pk, **period)
    with pytest.raises(NotFound):
        build("sales", manager, operator=s.south_cashier.pk, **period)


def test_only_managers_finance_and_auditors_read_reports() -> None:
    s = scene()
    cashier = s.world.cashier
    auditor = factories.user(s.world.tree.north, Role.OPERATOR, (Capability.AUDITOR,))
    assert readable_reports(cashier) == []
    assert {spec.slug for spec in readable_reports(auditor)} >= set(SLUGS)
    with pytest.raises(AccessDenied):
        build("sales", cashier)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_from": "2026-04-02", "date_to": "2026-04-01"}, "date_to"),
        ({"date_from": "2010-01-01", "date_to": "2026-04-01"}, "date_to"),
        ({"date_from": "0001-01-01"}, "date_from"),
        # Only a start, too long ago: the end (today) is not the user's, the start is.
        ({"date_from": "1980-01-01"}, "date_from"),
        ({"date_from": "2026-02-30"}, "date_from"),
        ({"unit": "²"}, "unit"),
        ({"point": "99999999999999999999"}, "point"),
        ({"sgc": "60067"}, "sgc"),
        ({"sgc": "６００６７５"}, "sgc"),
        ({"ti": "100"}, "ti"),
        ({"group": "everything"}, "group"),
        ({"channel": "carrier-pigeon"}, "channel"),
    ],
)
def test_a_bad_filter_is_refused_with_its_field(query: dict[str, str], field: str) -> None:
    s = scene()
    with pytest.raises(InvalidInput) as caught:
        build("sales", s.world.admin, **query)
    assert caught.value.params["field"] == field


def test_the_period_defaults_to_today_in_the_utility_time_zone() -> None:
    s = scene()
    result = build("sales", s.world.admin)
    today = timezone.now().astimezone(LONDON).date().isoformat()
    assert dict((str(k), v) for k, v in result.filters)["Period"] == today
    assert total_row(result)["count"] == 0


def test_free_issues_count_kwh_value_and_taxes() -> None:
    s = scene()
    w = s.world
    clock = FixedClock(at("2026-03-31 23:30"))  # 1 April in London
    vending.issue_free_credit(
        actor=w.supervisor,
        vending_point=w.point,
        client_reference="free-1",
        meter_number=s.north_meter.number,
        kwh=Decimal("12.5"),
        reason="outage compensation",
        clock=clock,
    )
    vending.issue_fbe(
        actor=w.cashier,
        vending_point=w.point,
        client_reference="fbe-1",
        meter_number=s.north_meter_2.number,
        clock=clock,
    )
    rollup.fold()
    result = build("free-issues", w.admin, date_from="2026-04-01", date_to="2026-04-01")
    free = Sale.objects.get(kind="free_issue")
    fbe = Sale.objects.get(kind="fbe")
    total = total_row(result)
    assert (total["free_count"], total["free_kwh"]) == (1, free.kwh)
    assert (total["fbe_count"], total["fbe_kwh"]) == (1, fbe.kwh)
    assert total["free_kwh"] == Decimal("12.5")
    assert total["value"] == free.energy_minor + fbe.energy_minor
    assert total["tax"] == free.tax_minor + fbe.tax_minor
    march = build("free-issues", w.admin, date_from="2026-03-31", date_to="2026-03-31")
    assert total_row(march)["free_count"] == 0


def test_purchases_per_sgc_and_ti_have_a_subtotal_per_sgc() -> None:
    s = sold(scene())
    rollup.fold()
    result = build(
        "purchases-by-sgc-ti", s.world.admin, date_from="2026-03-01", date_to="2026-04-30"
    )
    e = expected_sales(date(2026, 3, 1), date(2026, 4, 30), kinds=("credit",))[None]
    detail = [r for r in result.tables[0].rows if r.role == RowRole.DETAIL]
    assert [(r.cells["sgc"], r.cells["ti"]) for r in detail] == [("600675", "1")]
    subtotal = row_by(result, "Total 600675", column="sgc")
    assert subtotal["tender"] == e.tender
    assert subtotal["net"] == e.net
    assert total_row(result)["kwh"] == e.kwh


def test_debt_collection_recovered_outstanding_and_ageing() -> None:
    s = scene()
    w = s.world
    customer = w.customer(s.north_meter)
    old = customers.open_debt(
        actor=w.supervisor, customer=customer, amount=w.money("400"), reason="Old arrears"
    )
    recent = customers.open_debt(
        actor=w.supervisor,
        customer=w.customer(s.north_meter_2),
        amount=w.money("50"),
        reason="Meter tampering fine",
    )
    today = timezone.now()
    Debt.objects.filter(pk=old.pk).update(opened_at=today - timedelta(days=100))
    s.sell("2026-03-28 10:00", "1100")
    s.sell("2026-03-29 10:00", "1200")
    rollup.fold()
    result = build("debt-collection", w.admin, date_from="2026-03-01")
    total = total_row(result)
    recovered = sum(x.debt_recovered_minor for x in Sale.objects.all())
    assert recovered > 0
    assert total["recovered"] == recovered == posted(list(Sale.objects.all()), "debt:")
    owed = {d.pk: d.balance_minor for d in Debt.objects.all()}
    assert total["outstanding"] == sum(owed.values())
    assert total["accounts"] == len([b for b in owed.values() if b > 0])
    assert total["age_91_180"] == owed[old.pk]
    assert total["age_0_30"] == owed[recent.pk]
    assert total["age_31_90"] == total["age_181_365"] == total["age_over_365"] == 0
    south = factories.user(w.tree.south, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    assert total_row(build("debt-collection", south, date_from="2026-03-01"))["outstanding"] == 0


def test_daily_summary_beside_the_previous_period_and_last_year() -> None:
    s = scene()
    s.sell("2026-03-28 10:00", "1100")
    s.sell("2026-03-29 10:00", "1200")
    s.sell("2026-03-26 10:00", "1300")  # two days before: the previous period
    s.sell("2025-03-29 10:00", "1400", south=True)  # a year before
    s.reverse(s.sales[1], "2026-03-29 12:00")
    rollup.fold()
    result = build("daily-summary", s.world.admin, date_from="2026-03-28", date_to="2026-03-29")
    first, second, total = result.tables[0].rows
    assert (first.cells["period"], first.cells["net"]) == ("2026-03-28", 110000)
    assert (second.cells["period"], second.cells["net"]) == ("2026-03-29", 0)
    assert second.cells["count"] == 0
    assert first.cells["previous_period"] == "2026-03-26"
    assert first.cells["previous_net"] == 130000
    assert second.cells["last_year_period"] == "2025-03-29"
    assert second.cells["last_year_net"] == 140000
    assert total.role == RowRole.TOTAL
    assert total.cells["net"] == 110000
    assert total.cells["previous_net"] == 130000
    assert total.cells["last_year_change"] == Decimal("-21.4")
    months = build(
        "daily-summary", s.world.admin, date_from="2026-03-01", date_to="2026-03-31", group="month"
    )
    row = months.tables[0].rows[0]
    assert (row.cells["period"], row.cells["net"]) == ("2026-03", 240000)
    assert (row.cells["previous_period"], row.cells["last_year_period"]) == ("2026-02", "2025-03")
    with pytest.raises(InvalidInput):
        build("daily-summary", s.world.admin, group="point")
    with pytest.raises(InvalidInput):
        build("daily-summary", s.world.admin, date_from="2024-01-01", date_to="2026-01-01")


def test_every_report_builds_for_an_empty_period_with_a_total_row() -> None:
    s = scene()
    when = datetime(2030, 1, 1, tzinfo=UTC).date().isoformat()
    for slug in SLUGS:
        result = build(slug, s.world.admin, date_from=when, date_to=when)
        assert result.slug == slug
        assert result.tables and all(t.rows[-1].role == RowRole.TOTAL for t in result.tables)


def test_the_25_hour_autumn_day_holds_every_sale_of_its_local_hours(folded: str) -> None:
    s = scene()
    s.sell("2026-10-24 22:30", "1100")  # 24 October 23:30 BST
    s.sell("2026-10-24 23:30", "1200")  # 25 October 00:30 BST: a UTC 24th
    s.sell("2026-10-25 00:30", "1300")  # 25 October 01:30 GMT, after the clocks went back
    s.sell("2026-10-25 23:30", "1400")  # 25 October 23:30 GMT, the day's 25th hour
    s.sell("2026-10-26 00:30", "1500")  # 26 October
    _fold(folded, s)
    result = build(
        "sales", s.world.admin, date_from="2026-10-24", date_to="2026-10-26", group="day"
    )
    by_day = expected_sales(
        date(2026, 10, 24), date(2026, 10, 26), key=lambda sale, day: day.isoformat()
    )
    assert row_by(result, "2026-10-25")["tender"] == by_day["2026-10-25"].tender == 390000
    assert row_by(result, "2026-10-24")["tender"] == 110000
    assert row_by(result, "2026-10-26")["tender"] == 150000
