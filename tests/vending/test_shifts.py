"""Shifts: counter sales need an open shift; closing counts the cash; a closed shift is frozen."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.kernel.errors import DomainError
from gridvend.reports import shifts as shift_reports
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import RequestStatus, Sale, Shift, ShiftStatus
from tests import factories
from tests.world import World

pytestmark = pytest.mark.django_db


def _sell(world: World, number: str, amount: str, ref: str, method: str = "cash") -> Sale:
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=number,
        tender=world.money(amount),
        payment_method=method,
        clock=world.clock,
    ).sale


def test_counter_sale_without_open_shift_is_refused(world: World) -> None:
    meter = world.add_meter()
    other = factories.user(world.unit, capabilities=("cashier",))
    count = Sale.objects.count()
    with pytest.raises(DomainError) as err:
        vending.vend_credit(
            actor=other,
            vending_point=world.point,
            client_reference="no-shift",
            meter_number=meter.number,
            tender=world.money("500.00"),
            clock=world.clock,
        )
    assert err.value.code == "SHIFT_NOT_OPEN"
    assert Sale.objects.count() == count


def test_close_counts_each_tender_and_reports_over_short(world: World) -> None:
    meter = world.add_meter()
    shift = shifts.current_shift(world.cashier, world.point)
    assert shift is not None
    a = _sell(world, meter.number, "500.00", "c1")
    b = _sell(world, meter.number, "300.00", "c2", method="card")
    c = _sell(world, meter.number, "250.00", "c3")
    vending.reverse_sale(actor=world.supervisor, sale=c, reason="wrong meter", clock=world.clock)
    assert {s.shift_id for s in (a, b, c)} == {shift.pk}
    # Expected cash: float 1000.00 + 500.00 (the reversed 250.00 was handed back).
    closed = shifts.close_shift(
        actor=world.cashier,
        shift=shift,
        counted={"cash": world.money("1495.00"), "card": world.money("300.00")},
    )
    assert closed.status == ShiftStatus.CLOSED
    assert closed.expected == {"cash": 150000, "card": 30000}
    assert closed.over_short_minor == -500
    report = shift_reports.z_report(world.cashier, closed)
    assert [s.reference for s in report.sales] == [a.reference, b.reference, c.reference]
    assert report.totals_by_tender == {"cash": 50000, "card": 30000}
    assert (report.reversed_count, report.reversed_total_minor) == (1, 25000)


def test_closed_shift_is_immutable(world: World) -> None:
    meter = world.add_meter()
    shift = shifts.current_shift(world.cashier, world.point)
    assert shift is not None
    shifts.close_shift(actor=world.cashier, shift=shift, counted={"cash": world.money("1000.00")})
    with pytest.raises(DomainError) as err:
        shifts.close_shift(actor=world.cashier, shift=shift, counted={"cash": world.money("1.00")})
    assert err.value.code == "SHIFT_CLOSED"
    with pytest.raises(DomainError) as err:
        _sell(world, meter.number, "500.00", "after-close")
    assert err.value.code == "SHIFT_NOT_OPEN"
    shift.refresh_from_db()
    assert shift.counted == {"cash": 100000}


def test_one_open_shift_per_operator(world: World) -> None:
    with pytest.raises(DomainError) as err:
        shifts.open_shift(
            actor=world.cashier, vending_point=world.point, opening_float=world.money("0.00")
        )
    assert err.value.code == "SHIFT_ALREADY_OPEN"
    assert Shift.objects.filter(operator=world.cashier).count() == 1


def test_reversal_needs_a_second_person(world: World) -> None:
    meter = world.add_meter()
    sale = _sell(world, meter.number, "500.00", "rv")
    request = vending.request_reversal(actor=world.supervisor, sale=sale, reason="double payment")
    with pytest.raises(DomainError) as err:
        vending.approve_reversal(actor=world.supervisor, request=request, clock=world.clock)
    assert err.value.code == "MAKER_CHECKER_VIOLATION"
    sale.refresh_from_db()
    assert sale.status == "completed"
    with pytest.raises(DomainError) as err:
        vending.approve_reversal(actor=world.cashier, request=request, clock=world.clock)
    assert err.value.code == "PERMISSION_DENIED"
    checker = factories.user(world.tree.north, "vp_manager", ("finance",))
    vending.approve_reversal(actor=checker, request=request, note="ok", clock=world.clock)
    sale.refresh_from_db()
    request.refresh_from_db()
    assert sale.status == "reversed" and request.status == RequestStatus.APPROVED
    assert request.decided_by_id == checker.pk


def test_rejected_reversal_leaves_the_sale(world: World) -> None:
    meter = world.add_meter()
    sale = _sell(world, meter.number, "500.00", "rj")
    request = vending.request_reversal(actor=world.cashier, sale=sale, reason="customer asked")
    with pytest.raises(DomainError) as err:
        vending.request_reversal(actor=world.cashier, sale=sale, reason="again")
    assert err.value.code == "REVERSAL_ALREADY_REQUESTED"
    vending.reject_reversal(actor=world.supervisor, request=request, note="token was used")
    sale.refresh_from_db()
    request.refresh_from_db()
    assert sale.status == "completed" and request.status == RequestStatus.REJECTED


def test_a_reversal_after_the_close_does_not_change_the_closed_report(world: World) -> None:
    from datetime import timedelta

    meter = world.add_meter()
    shift = shifts.current_shift(world.cashier, world.point)
    assert shift is not None
    sale = _sell(world, meter.number, "2000.00", "z1")
    closed = shifts.close_shift(
        actor=world.cashier,
        shift=shift,
        counted={"cash": world.money("3000.00")},
        now=world.clock.now(),
    )
    before = shift_reports.z_report(world.cashier, closed)
    world.clock.advance(timedelta(hours=2))
    vending.reverse_sale(
        actor=world.supervisor, sale=sale, reason="next-day refund", clock=world.clock
    )
    after = shift_reports.z_report(world.cashier, closed)
    assert after.totals_by_tender == before.totals_by_tender == {"cash": 200000}
    assert (after.reversed_count, after.reversed_total_minor) == (0, 0)


def test_refund_of_a_closed_shifts_sale_comes_out_of_the_reversers_drawer(world: World) -> None:
    meter = world.add_meter()
    first = shifts.current_shift(world.cashier, world.point)
    assert first is not None
    sale = _sell(world, meter.number, "500.00", "yesterday")
    first = shifts.close_shift(
        actor=world.cashier,
        shift=first,
        counted={"cash": world.money("1500.00")},
        now=world.clock.now(),
    )
    world.clock.advance(timedelta(hours=20))
    # Next day the supervisor, who holds a drawer of their own, refunds it at the desk.
    desk = shifts.open_shift(
        actor=world.supervisor, vending_point=world.point, opening_float=world.money("800.00")
    )
    vending.reverse_sale(
        actor=world.supervisor, sale=sale, reason="refund at the desk", clock=world.clock
    )
    assert sale.reversal.refund_shift_id == desk.pk
    assert shifts.expected_takings(desk) == {"cash": 30000}  # 800.00 float - 500.00 refund
    report = shift_reports.z_report(world.supervisor, desk)
    assert [r.sale.reference for r in report.refunds] == [sale.reference]
    assert report.refunds_total_minor == 50000
    # The closed shift's own report is unchanged.
    assert shift_reports.z_report(world.cashier, first).totals_by_tender == {"cash": 50000}


def test_refund_within_the_sales_own_open_shift_is_not_counted_twice(world: World) -> None:
    meter = world.add_meter()
    shift = shifts.current_shift(world.cashier, world.point)
    assert shift is not None
    sale = _sell(world, meter.number, "500.00", "same-day")
    shifts.open_shift(
        actor=world.supervisor, vending_point=world.point, opening_float=world.money("0.00")
    )
    vending.reverse_sale(actor=world.supervisor, sale=sale, reason="same day", clock=world.clock)
    assert sale.reversal.refund_shift_id is None
    assert shifts.expected_takings(shift) == {"cash": 100000}  # float only: the sale is undone
