"""The shift and daily cash-up report: per vending point and local day, what the shifts closed that
day should have held and what was counted, the reversals and refunds, the back office's refunds
and the cash to bank; checked against sums made here from the sales and counts the test entered,
and against each shift's Z report and the point's banking slip (they must agree)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.money import Money
from gridvend.reports import cashup
from gridvend.reports import shifts as shift_reports
from gridvend.reports.base import REPORTS, RowRole
from gridvend.reports.filters import ReportFilterSet
from gridvend.vending import services as vending
from gridvend.vending.models import BackOfficeRefund, Shift, ShiftStatus
from gridvend.vending.shifts import close_shift, open_shift
from tests import factories
from tests.reports.support import ZONE, Scene, at, scene

pytestmark = pytest.mark.django_db

PERIOD = {"date_from": "2026-03-28", "date_to": "2026-03-31"}


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def build(actor: Any, **query: Any) -> Any:
    values = ReportFilterSet({k: str(v) for k, v in query.items()}).values()
    return REPORTS["shift-cash-up"].build(actor, values)


def rows(result: Any, table: int = 0) -> dict[tuple[str, Any], dict[str, Any]]:
    return {
        (str(r.cells["point"]), r.cells.get("day")): dict(r.cells)
        for r in result.tables[table].rows
        if r.role == RowRole.DETAIL
    }


def _days(s: Scene) -> dict[str, Any]:
    """Three days at the north pay office and one closed shift in the south:

    28 March: shift 1 sells 500.00 and 300.00, the 300.00 reversed while it is open; counted
        10.00 over. 29 March (the 23-hour day): shift 2 (float 0) sells 700.00 and refunds the
        500.00 of shift 1 from its drawer (the cashier asked, finance approved); closed at 23:30
        BST, still the 29th, counted 2.00 short. 30 March: the 700.00, its shift closed, is
        reversed by the supervisor, who holds no drawer: the back office pays it back in cash.
    """
    w = s.world
    one = Shift.objects.get(operator=w.cashier, status=ShiftStatus.OPEN)
    a = s.sell("2026-03-28 10:00", "500")
    b = s.sell("2026-03-28 11:00", "300")
    s.reverse(b, "2026-03-28 12:00")
    close_shift(
        actor=w.cashier,
        shift=one,
        counted={"cash": Money(one.opening_float_minor + 50000 + 1000, w.tariff.currency)},
        now=at("2026-03-28 18:00"),
    )
    two = open_shift(
        actor=w.cashier,
        vending_point=w.point,
        opening_float=w.money("0"),
        now=at("2026-03-29 08:00"),
    )
    c = s.sell("2026-03-29 09:00", "700")
    request = vending.request_reversal(actor=w.cashier, sale=a, reason="wrong meter")
    checker = factories.user(w.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    vending.approve_reversal(
        actor=checker, request=request, clock=FixedClock(at("2026-03-29 12:00"))
    )
    close_shift(
        actor=w.cashier,
        shift=two,
        counted={"cash": Money(70000 - 50000 - 200, w.tariff.currency)},
        now=at("2026-03-29 22:30"),
    )
    s.reverse(c, "2026-03-30 09:00")
    south = Shift.objects.get(operator=s.south_cashier, status=ShiftStatus.OPEN)
    s.sell("2026-03-29 10:00", "900", south=True)
    close_shift(
        actor=s.south_cashier,
        shift=south,
        counted={"cash": Money(south.opening_float_minor + 90000, w.tariff.currency)},
        now=at("2026-03-29 16:00"),
    )
    one.refresh_from_db()
    two.refresh_from_db()
    return {"one": one, "two": two, "a": a, "b": b, "c": c, "south": south}


def test_each_point_day_sums_its_shifts_counts_reversals_and_refunds() -> None:
    s = scene()
    got = _days(s)
    w = s.world
    result = build(w.admin, **PERIOD)
    found = rows(result)
    north, south = str(w.point), str(s.south_point)
    float_one = got["one"].opening_float_minor
    # Independently from what was sold, reversed and counted above.
    day_one = found[(north, date(2026, 3, 28))]
    assert (day_one["shifts"], day_one["uncounted"]) == (1, 0)
    assert day_one["expected"] == float_one + 50000  # the 300.00 was undone in the drawer
    assert day_one["counted"] == float_one + 50000 + 1000
    assert day_one["difference"] == 1000
    assert (day_one["reversed_count"], day_one["reversed"]) == (1, 30000)
    assert (day_one["refunds_count"], day_one["refunds"]) == (0, 0)
    assert day_one["to_bank"] == float_one + 51000
    day_two = found[(north, date(2026, 3, 29))]
    assert day_two["expected"] == 70000 - 50000
    assert (day_two["counted"], day_two["difference"]) == (19800, -200)
    assert (day_two["refunds_count"], day_two["refunds"]) == (1, 50000)
    assert day_two["reversed_count"] == 0
    day_three = found[(north, date(2026, 3, 30))]
    assert day_three["shifts"] == 0
    assert day_three["back_office"] == 70000
    assert day_three["to_bank"] == -70000
    assert found[(south, date(2026, 3, 29))]["counted"] == got["south"].opening_float_minor + 90000
    total = result.tables[0].rows[-1]
    assert total.role == RowRole.TOTAL
    assert total.cells["shifts"] == 3
    assert total.cells["difference"] == 1000 - 200
    subtotals = [r for r in result.tables[0].rows if r.role == RowRole.SUBTOTAL]
    assert [r.cells["point"] for r in subtotals] == [f"Total {north}", f"Total {south}"]
    assert subtotals[0].cells["to_bank"] == float_one + 51000 + 19800 - 70000


def test_the_cash_up_agrees_with_each_z_report_and_banking_slip() -> None:
    s = scene()
    _days(s)
    admin = s.world.admin
    found = rows(build(admin, **PERIOD))
    points = {str(p): p for p in (s.world.point, s.south_point)}
    for (name, day), row in found.items():
        point = points[name]
        slip = shift_reports.banking_slip(admin, point, day)
        assert row["to_bank"] == slip.to_bank_minor, (name, day)
        assert row["back_office"] == slip.cash_refunds_minor + slip.other_refunds_minor
        assert row["shifts"] == len(slip.shifts)
        reports = [shift_reports.z_report(admin, slip_shift.shift) for slip_shift in slip.shifts]
        assert row["expected"] == sum(sum(z.expected.values()) for z in reports)
        assert row["reversed"] == sum(z.reversed_total_minor for z in reports)
        assert row["reversed_count"] == sum(z.reversed_count for z in reports)
        assert row["refunds"] == sum(z.refunds_total_minor for z in reports)
        assert row["refunds_count"] == sum(len(z.refunds) for z in reports)
    assert BackOfficeRefund.objects.count() == 1
    assert len(found) == 4


def test_a_shift_counts_on_the_local_day_it_closed() -> None:
    s = scene()
    got = _days(s)
    w = s.world
    # Shift 2 closed at 22:30 UTC on 29 March, 23:30 BST: the 29th, not the 30th.
    only_30th = rows(build(w.admin, date_from="2026-03-30", date_to="2026-03-30"))
    assert list(only_30th) == [(str(w.point), date(2026, 3, 30))]
    assert got["two"].closed_at == at("2026-03-29 22:30")


def test_filters_narrow_to_the_point_and_operator() -> None:
    s = scene()
    _days(s)
    w = s.world
    by_point = rows(build(w.admin, point=s.south_point.pk, **PERIOD))
    assert list(by_point) == [(str(s.south_point), date(2026, 3, 29))]
    by_operator = rows(build(w.admin, operator=w.cashier.pk, **PERIOD))
    assert set(by_operator) == {
        (str(w.point), date(2026, 3, 28)),
        (str(w.point), date(2026, 3, 29)),
    }


def test_a_business_unit_manager_never_sees_another_units_cash_up() -> None:
    s = scene()
    _days(s)
    tree = s.world.tree
    manager = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    found = rows(build(manager, **PERIOD))
    assert {name for name, _day in found} == {str(s.world.point)}
    for query in (
        {"point": s.south_point.pk},
        {"operator": s.south_cashier.pk},
        {"unit": tree.south.pk},
    ):
        with pytest.raises(NotFound):
            build(manager, **query, **PERIOD)


def test_past_the_shift_limit_the_report_stops_at_a_whole_day_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = scene()
    _days(s)
    monkeypatch.setattr(cashup, "SHIFT_LIMIT", 2)
    result = build(s.world.admin, **PERIOD)
    assert "Only the first 2 shifts" in str(result.tables[0].truncated_note)
    # Ordered by point then close: two north shifts fit, but the last day read may be partial,
    # so it goes too; the south's shift and the north's later back-office refund are past it.
    assert list(rows(result)) == [(str(s.world.point), date(2026, 3, 28))]
