"""Where a reversed sale's money is paid back: every refund is in exactly one cash-up, either a
shift's Z report (the sale's own drawer or the requester's) or the back-office refund record
on the banking slip of the sale's vending point."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import business_date
from gridvend.org import services as org
from gridvend.reports import shifts as shift_reports
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import BackOfficeRefund, Sale, Shift
from tests import factories
from tests.world import World

pytestmark = pytest.mark.django_db


def _sell(world: World, ref: str, amount: str = "500.00", method: str = "cash") -> Sale:
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=world.add_meter().number,
        tender=world.money(amount),
        payment_method=method,
        clock=world.clock,
    ).sale


def _cash_ups(world: World, sale: Sale) -> list[str]:
    """Every cash-up the sale's refund appears in: shift Z reports and banking slips."""
    found = []
    for shift in Shift.objects.all():
        report = shift_reports.z_report(world.admin, shift)
        if sale.pk in report.reversed_here:
            found.append(f"shift {shift.pk} (reversed in its own shift)")
        if sale.pk in {r.sale_id for r in report.refunds}:
            found.append(f"shift {shift.pk} (refund from the drawer)")
    days = set(BackOfficeRefund.objects.values_list("business_date", flat=True))
    for day in days | {business_date(world.clock.now(), settings.TIME_ZONE)}:
        slip = shift_reports.banking_slip(world.admin, world.point, day)
        if sale.pk in {r.reversal.sale_id for r in slip.refunds}:
            found.append(f"banking slip {day}")
    return found


def _people(world: World, *, requester_shift: bool, approver_shift: bool) -> tuple[User, User]:
    requester = factories.user(world.unit, Role.OPERATOR, (Capability.CASHIER,))
    approver = factories.user(
        world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.CASHIER, Capability.FINANCE)
    )
    if requester_shift:
        shifts.open_shift(
            actor=requester, vending_point=world.point, opening_float=world.money("200.00")
        )
    if approver_shift:
        shifts.open_shift(
            actor=approver, vending_point=world.point, opening_float=world.money("300.00")
        )
    return requester, approver


@pytest.mark.parametrize("sale_shift_open", [True, False], ids=["sale-shift-open", "closed"])
@pytest.mark.parametrize("requester_shift", [True, False], ids=["requester-drawer", "no-drawer"])
@pytest.mark.parametrize("approver_shift", [True, False], ids=["approver-drawer", "no-drawer"])
def test_every_refund_is_in_exactly_one_cash_up(
    world: World, sale_shift_open: bool, requester_shift: bool, approver_shift: bool
) -> None:
    sale = _sell(world, "matrix")
    own = shifts.current_shift(world.cashier)
    assert own is not None
    if not sale_shift_open:
        shifts.close_shift(
            actor=world.cashier,
            shift=own,
            counted={"cash": world.money("1500.00")},
            now=world.clock.now(),
        )
        world.clock.advance(timedelta(hours=1))
    requester, approver = _people(
        world, requester_shift=requester_shift, approver_shift=approver_shift
    )
    request = vending.request_reversal(actor=requester, sale=sale, reason="wrong meter")
    reversal = vending.approve_reversal(actor=approver, request=request, clock=world.clock)

    places = _cash_ups(world, sale)
    assert len(places) == 1, places
    # The approver's drawer never pays: approvals happen away from the counter.
    approver_drawer = shifts.current_shift(approver)
    if approver_drawer is not None:
        assert shifts.expected_takings(approver_drawer) == {"cash": 30000}
    requester_drawer = shifts.current_shift(requester)
    if sale_shift_open:
        assert shifts.refund_paid_from(reversal) == shifts.PAID_FROM_OWN_SHIFT
        assert shifts.expected_takings(own) == {"cash": 100000}  # the float: the sale is undone
    elif requester_shift:
        assert requester_drawer is not None
        assert reversal.refund_shift_id == requester_drawer.pk
        assert shifts.refund_paid_from(reversal) == shifts.PAID_FROM_DRAWER
        assert shifts.expected_takings(requester_drawer) == {"cash": 20000 - 50000}
    else:
        assert reversal.refund_shift_id is None
        refund = BackOfficeRefund.objects.get(reversal=reversal)
        assert shifts.refund_paid_from(reversal) == shifts.PAID_BY_BACK_OFFICE
        assert (refund.vending_point_id, refund.amount_minor) == (world.point.pk, 50000)
        assert (refund.requested_by_id, refund.paid_by_id) == (requester.pk, approver.pk)
        assert refund.business_date == business_date(world.clock.now(), settings.TIME_ZONE)
        assert AuditEvent.objects.filter(
            event_type="refund.recorded", target_id=str(refund.pk)
        ).exists()
    if sale_shift_open or requester_shift:
        assert not BackOfficeRefund.objects.exists()


def test_the_cashier_who_sold_it_refunds_from_a_new_shift(world: World) -> None:
    """The defect as found: yesterday's sale, approved by a supervisor with no drawer, while
    the requesting cashier is selling in today's shift."""
    sale = _sell(world, "yesterday")
    first = shifts.current_shift(world.cashier)
    assert first is not None
    shifts.close_shift(actor=world.cashier, shift=first, counted={"cash": world.money("1500.00")})
    world.clock.advance(timedelta(hours=20))
    today = shifts.open_shift(
        actor=world.cashier, vending_point=world.point, opening_float=world.money("1000.00")
    )
    checker = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    request = vending.request_reversal(actor=world.cashier, sale=sale, reason="paid twice")
    vending.approve_reversal(actor=checker, request=request, clock=world.clock)
    report = shift_reports.z_report(world.cashier, today)
    assert [r.sale.reference for r in report.refunds] == [sale.reference]
    assert shifts.expected_takings(today) == {"cash": 50000}
    assert _cash_ups(world, sale) == [f"shift {today.pk} (refund from the drawer)"]


def test_back_office_refunds_reduce_the_cash_to_bank(world: World) -> None:
    cash = _sell(world, "bo-cash")
    card = _sell(world, "bo-card", amount="300.00", method="card")
    own = shifts.current_shift(world.cashier)
    assert own is not None
    shifts.close_shift(
        actor=world.cashier,
        shift=own,
        counted={"cash": world.money("1500.00"), "card": world.money("300.00")},
        now=world.clock.now(),
    )
    world.clock.advance(timedelta(hours=1))
    for sale in (cash, card):
        vending.reverse_sale(actor=world.supervisor, sale=sale, reason="refund", clock=world.clock)
    slip = shift_reports.banking_slip(
        world.supervisor, world.point, business_date(world.clock.now(), settings.TIME_ZONE)
    )
    assert slip.counted_cash_minor == 150000
    assert slip.cash_refunds_minor == 50000
    assert slip.other_refunds_minor == 30000  # paid back to the card: not out of the cash
    assert slip.to_bank_minor == 100000


def test_a_sale_never_in_a_drawer_is_refunded_through_its_channel(world: World) -> None:
    bank = org.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Bank link", channel="bank"
    )
    sale = vending.vend_credit(
        actor=world.supervisor,
        vending_point=bank,
        client_reference="bank-1",
        meter_number=world.add_meter().number,
        tender=world.money("500.00"),
        payment_method="transfer",
        clock=world.clock,
    ).sale
    assert sale.shift_id is None
    desk = shifts.open_shift(
        actor=world.supervisor, vending_point=world.point, opening_float=world.money("0.00")
    )
    checker = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    request = vending.request_reversal(actor=world.supervisor, sale=sale, reason="bank recall")
    reversal = vending.approve_reversal(actor=checker, request=request, clock=world.clock)
    assert shifts.refund_paid_from(reversal) == shifts.PAID_THROUGH_CHANNEL
    assert reversal.refund_shift_id is None and not BackOfficeRefund.objects.exists()
    assert shifts.expected_takings(desk) == {"cash": 0}


def test_the_refund_record_is_bound_to_the_reversal_event(world: World) -> None:
    sale = _sell(world, "event")
    own = shifts.current_shift(world.cashier)
    assert own is not None
    shifts.close_shift(actor=world.cashier, shift=own, counted={"cash": world.money("1500.00")})
    reversal = vending.reverse_sale(
        actor=world.supervisor, sale=sale, reason="refund", clock=world.clock
    )
    event = AuditEvent.objects.get(event_type="sale.reversed", target_id=str(sale.pk))
    assert event.after is not None and event.after["refund_paid_from"] == "back_office"
    assert BackOfficeRefund.objects.get(reversal=reversal).payment_method == "cash"


def test_a_drawer_opened_after_asking_never_pays_the_refund(world: World) -> None:
    """Found in review: the requester asked in one shift, closed it, and opened another at a
    different point; the approval booked the refund to the new drawer, whose cashier knew
    nothing of it. The drawer held when asking pays, or else the back office does."""
    sale = _sell(world, "asked-then-moved")
    first = shifts.current_shift(world.cashier)
    assert first is not None
    shifts.close_shift(actor=world.cashier, shift=first, counted={"cash": world.money("1500.00")})
    asking = shifts.open_shift(
        actor=world.cashier, vending_point=world.point, opening_float=world.money("0")
    )
    request = vending.request_reversal(actor=world.cashier, sale=sale, reason="wrong meter")
    shifts.close_shift(actor=world.cashier, shift=asking, counted={})
    elsewhere = org.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Market Agent", channel="pay_office"
    )
    later = shifts.open_shift(
        actor=world.cashier, vending_point=elsewhere, opening_float=world.money("0")
    )
    checker = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    vending.approve_reversal(actor=checker, request=request, clock=world.clock)
    assert shifts.expected_takings(later) == {"cash": 0}
    assert _cash_ups(world, sale) == [
        f"banking slip {business_date(world.clock.now(), settings.TIME_ZONE)}"
    ]
