"""Fourth (final) review of issue 14 (billing), kept as probes: what a careless finance clerk
or the order of steps can still do to the reading-to-cash cycle after the third review's fixes.
Each failing probe names a defect; the passing ones pin behaviour that held."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gridvend.billing import selectors, services
from gridvend.billing.models import Bill, BillPayment, BillStatus, LineKind
from gridvend.kernel.errors import DomainError
from tests.billing.conftest import Scene
from tests.billing.test_payments import A_BILL, B_BILL

pytestmark = pytest.mark.django_db


def test_a_period_one_day_off_does_not_bill_the_same_reading_twice(scene: Scene) -> None:
    """Defect: preview_run refuses a second run of a book only for the same period_start
    (BILLING_RUN_EXISTS); a period that overlaps a posted one (a clerk types the 2nd for the
    1st) bills the same readings again. _previous_bill looks for bills ending before the new
    start, finds none, and the first-bill path charges the reading's whole consumption again.
    Why it matters: the customer is billed 200 kWh twice (4,408.00 owed for 2,204.00 of
    energy), dunning then pursues money nobody owes. Severity: high."""
    first = scene.billed()
    assert Bill.objects.get(run=first, meter=scene.a).amount_minor == A_BILL
    try:
        second = services.preview_run(
            actor=scene.finance,
            book=scene.book,
            period_start=scene.start + timedelta(days=1),
            period_end=scene.end,
        )
    except DomainError:
        return  # refused: the overlap is caught
    if Bill.objects.filter(run=second, meter=scene.a).exists():
        scene.post(second)
    owed = selectors.account_due(scene.finance, scene.customer(scene.a).account_number)
    assert owed.total_due_minor == A_BILL, (
        f"200 kWh billed twice: the account owes {owed.total_due_minor}, not {A_BILL}"
    )


def test_the_estimated_run_cannot_be_cancelled_under_a_later_run_awaiting_approval(
    scene: Scene,
) -> None:
    """Defect: the third review's fix (_require_latest, runs.py) refuses to cancel a run only
    when a later *posted* bill (OPEN/PAID) billed its meters. A later run that is previewed or
    awaiting approval was computed from the same estimate (its over-estimate credit) but is
    not seen; _carry_out_posting does not look again. Cancel the estimated run (reversal
    credits the whole estimate), then approve the later run: its over-estimate credit line and
    carried credit note credit the same kWh a second time. Severity: high (money given away;
    the 14c finding reopened by the order of steps)."""
    meter, estimate, first = scene.estimated("Heavy estimated", ("1000", "1300", "1600"))
    estimated = Bill.objects.get(run=first, meter=meter)
    scene.read(meter, scene.end - timedelta(days=2), str(estimate.register_kwh - 40))
    later = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    assert Bill.objects.get(run=later, meter=meter).credit_carried_minor > 0
    decision = services.request_posting(actor=scene.finance, run=later)
    try:
        cancel = services.request_cancellation(actor=scene.finance, run=first, reason="re-read")
        services.approve_run_decision(actor=scene.checker, decision=cancel)
    except DomainError:
        return  # refused while a later run of its meters waits: the defence holds
    estimated.refresh_from_db()
    assert estimated.status == BillStatus.CANCELLED
    try:
        services.approve_run_decision(actor=scene.checker, decision=decision)
    except DomainError:
        return  # the later run is refused at its approval: the defence holds
    credited = Bill.objects.get(run=later, meter=meter)
    notes = BillPayment.objects.filter(customer=credited.customer, channel="credit_note")
    lines = list(
        credited.lines.filter(kind=LineKind.ADJUSTMENT).values_list("amount_minor", flat=True)
    )
    assert not lines and not notes.exists(), (
        "the estimate was reversed in full and its over-estimate is credited again: "
        f"line {lines}, notes {list(notes.values_list('amount_minor', flat=True))}"
    )


def test_a_reversed_sale_takes_back_the_bill_payment_its_recovery_made(scene: Scene) -> None:
    """Defect: a prepaid sale of a "both" account recovers part of the postpaid arrears debt;
    the recoveries job turns it into a prepaid_recovery payment that pays the bill. When the
    sale is reversed (vending.reverse_sale gives the amount back to the debt: reversals.py,
    debt_allocations), nothing takes the recovery payment back (it cannot be cancelled either:
    PAYMENT_NOT_CANCELLABLE). The bill stays paid by money refunded to the customer, and the
    arrears debt now holds more than the bills owe: `gridvend ledger reconcile` reports UNTIED
    postpaid arrears, and dunning no longer sees the arrears the debt holds. Severity: medium
    (a refunded 250.00 shown as paid on the bill; verify fails with no way to repair it)."""
    from gridvend.billing.integrity import verify_arrears_debts
    from gridvend.kernel.clock import SystemClock
    from gridvend.vending import services as vending

    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None
    sold = vending.vend_credit(
        actor=scene.world.cashier,
        vending_point=scene.world.point,
        client_reference="both-rev-1",
        meter_number=scene.b.number,
        tender=scene.world.money("1000.00"),
        clock=SystemClock(),
    )
    assert sold.sale.breakdown is not None and sold.sale.breakdown["debt_recovered_minor"] == 25000
    assert services.apply_recoveries(actor=None, customer=customer) is not None
    vending.reverse_sale(actor=scene.finance, sale=sold.sale, reason="wrong meter")
    services.apply_recoveries(actor=None, customer=customer)
    bill = Bill.objects.get(run=run, customer=customer)
    debt.refresh_from_db()
    assert debt.balance_minor == B_BILL  # the reversal gave the recovery back to the debt
    assert bill.paid_minor == 0, (
        f"the bill stays paid {bill.paid_minor} by a recovery whose sale was refunded"
    )
    assert verify_arrears_debts().problems == []


def test_a_postpaid_account_switched_to_prepaid_can_still_pay_its_open_bills(
    scene: Scene,
) -> None:
    """Defect: customers.services.update_customer changes account_kind to "prepaid" whatever
    the account still owes; from then on billing.selectors.require_postpaid refuses every
    payment (cashier, bank link, Billpay: ACCOUNT_NOT_POSTPAID), the bank's query and the IVR
    answer "unknown", and dunning's read_due returns None, which the disconnection pre-check
    reads as "paid". A care clerk moving a customer to prepaid (the issue: customers move
    between them) strands the arrears: the receivable stays in the books and nobody can pay
    or pursue it. Fix: refuse the switch while bills owe (or require "both" with the arrears
    handed over). Severity: medium."""
    from gridvend.customers import services as customers
    from tests.billing.test_payments import pay

    scene.billed()
    customer = scene.customer(scene.a)
    try:
        customers.update_customer(
            actor=scene.world.admin, customer=customer, account_kind="prepaid"
        )
    except DomainError:
        return  # refused while bills owe: the defence holds
    payment = pay(scene, scene.a, A_BILL, "after-switch")  # DomainError: ACCOUNT_NOT_POSTPAID
    assert payment.allocated_minor == A_BILL


def test_a_meter_moved_to_another_book_is_not_billed_twice_for_one_period(scene: Scene) -> None:
    """Defect (the same root as the overlapping period, by another road): a meter billed with
    book bill-01 for the period is moved to a new book of the same service centre, and that
    book's run for the same period bills the same reading again. A fix that only compares
    periods of one book leaves this open: the overlap must be judged per meter (a posted or
    pending bill of the meter whose period overlaps). Severity: high."""
    from gridvend.identity.roles import Capability, Role
    from gridvend.readings import services as readings
    from tests import factories

    scene.billed()
    supervisor = factories.user(
        scene.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    readings.remove_book_meter(actor=supervisor, book=scene.book, meter=scene.a)
    other = readings.create_book(
        actor=supervisor, org_unit=scene.world.tree.north_sc, code="bill-02", name="Second",
        cycle_day=1, reader=scene.reader,
    )  # fmt: skip
    readings.add_book_meter(actor=supervisor, book=other, meter=scene.a)
    try:
        run = services.preview_run(
            actor=scene.finance, book=other, period_start=scene.start, period_end=scene.end
        )
    except DomainError:
        return  # refused: the meter's period is already billed
    if Bill.objects.filter(run=run, meter=scene.a).exists():
        scene.post(run)
    owed = selectors.account_due(scene.finance, scene.customer(scene.a).account_number)
    assert owed.total_due_minor == A_BILL, (
        f"one period's reading billed by two books: the account owes {owed.total_due_minor}"
    )


def test_the_run_cancel_that_gives_a_credit_notes_arrears_back_leaves_no_unowned_entry(
    scene: Scene,
) -> None:
    """Defect (in the third review's fix, runs._cancel_credit_note): the reversal of the credit
    note's debt_release_entry is posted and kept nowhere (the note's cancel_entry holds the
    reversal of its payment entry, debt_release_entry still the release itself). `gridvend
    verify` (verify_journal_entries) then reports an entry "written outside gridvend" after an
    ordinary run cancel: the check meant to catch forged entries cries wolf, or teaches people
    to ignore it. Fix: keep the reversal on the note (e.g. a debt_release_cancel_entry column
    registered with ledger.owners) or on the cancelled bill. Severity: medium."""
    from gridvend.customers.models import AccountKind
    from gridvend.vending.integrity.books import verify_journal_entries

    meter, estimate, first = scene.estimated(
        "Heavy estimated", ("1000", "1300", "1600"), AccountKind.BOTH
    )
    estimated = Bill.objects.get(run=first, meter=meter)
    services.transfer_arrears_to_debt(
        actor=scene.finance,
        customer=estimated.customer,
        today=estimated.due_date + timedelta(days=1),
    )
    scene.read(meter, scene.end - timedelta(days=2), str(estimate.register_kwh - 40))
    run = scene.post(
        services.preview_run(
            actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
        )
    )
    [note] = BillPayment.objects.filter(customer=estimated.customer, channel="credit_note")
    assert note.debt_release_entry_id is not None
    assert verify_journal_entries().problems == []
    decision = services.request_cancellation(actor=scene.finance, run=run, reason="re-read")
    services.approve_run_decision(actor=scene.checker, decision=decision)
    assert verify_journal_entries().problems == []


def test_a_late_run_for_a_skipped_period_does_not_bill_its_kwh_a_second_time(
    scene: Scene,
) -> None:
    """Defect (wrong order of steps): a meter billed for July and then for September (August's
    run was forgotten) has its September bill reckoned from July's register: it charges
    August's kWh too. When August's run is made late, _previous_bill (bills ending before
    August) again finds July and charges August's kWh a second time. Nothing refuses a run for
    a period before a posted bill of the meter (periods do not overlap, so a per-book overlap
    check would not catch it either). Severity: high (300 kWh billed twice here)."""
    from gridvend.customers import services as customers
    from gridvend.identity.roles import Capability, Role
    from gridvend.readings import services as readings
    from tests import factories

    world = scene.world
    supervisor = factories.user(
        world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    meter = world.add_meter(name="Skipped month")
    customers.update_customer(
        actor=world.admin, customer=world.customer(meter), account_kind="postpaid"
    )
    meter.refresh_from_db()
    readings.add_book_meter(actor=supervisor, book=scene.book, meter=meter)
    july, august, september = (scene.start - timedelta(days=d) for d in (125, 95, 65))
    for day, value in ((july, "1000"), (august, "1300"), (september, "1600")):
        scene.read(meter, day, value)

    def run_for(day: date) -> None:
        scene.post(
            services.preview_run(
                actor=scene.finance,
                book=scene.book,
                period_start=day - timedelta(days=10),
                period_end=day + timedelta(days=10),
            )
        )

    run_for(july)
    run_for(september)
    try:
        run_for(august)
    except DomainError:
        return  # refused: a period before a posted bill of the meter
    billed = sum(
        Bill.objects.filter(meter=meter, status__in=["open", "paid"]).values_list(
            "consumption_kwh", flat=True
        )
    )
    # The register moved 600 kWh after the first (July) reading.
    assert billed <= 600, f"{billed} kWh billed for a register that moved 600"


def test_pinned_an_earlier_run_is_not_cancelled_under_a_later_posted_run(scene: Scene) -> None:
    """Pins (held): the third review's fix refuses to cancel a run whose meters a later posted
    run billed (BILLING_RUN_NOT_LATEST), at the request, and writes nothing."""
    from gridvend.billing.models import RunDecision
    from gridvend.readings.estimates import cycle_bounds

    first_start, first_end = cycle_bounds(1, scene.start - timedelta(days=1))
    earlier = scene.post(
        services.preview_run(
            actor=scene.finance, book=scene.book, period_start=first_start, period_end=first_end
        )
    )
    assert Bill.objects.filter(run=earlier).exists()
    scene.billed()
    with pytest.raises(DomainError) as caught:
        services.request_cancellation(actor=scene.finance, run=earlier, reason="wrong")
    assert caught.value.code == "BILLING_RUN_NOT_LATEST"
    assert not RunDecision.objects.filter(run=earlier, action="cancel").exists()
