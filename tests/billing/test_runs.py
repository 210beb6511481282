"""Billing runs through the services: bills from readings priced against a hand calculation, the
estimated flag, a preview that posts nothing, the second-person rule, posting that balances,
cancellation that reverses to the cent and lets the next run rebill, late fees charged once,
arrears by age, and another region's runs and bills out of reach."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from gridvend.approvals.errors import MakerCheckerViolation
from gridvend.billing import selectors, services
from gridvend.billing.models import Bill, BillingRun, BillStatus, LineKind, RunStatus
from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError
from gridvend.ledger.models import JournalEntry, Posting
from gridvend.ledger.selectors import account_balance, unbalanced_entries
from gridvend.readings.models import MeterReading, ReadingStatus
from tests.billing.conftest import Scene
from tests.billing.test_payments import A_BILL, B_BILL, pay

pytestmark = pytest.mark.django_db


def preview(s: Scene) -> BillingRun:
    return services.preview_run(
        actor=s.finance, book=s.book, period_start=s.start, period_end=s.end
    )


def test_a_bill_prices_blocks_fixed_charge_and_vat_as_worked_by_hand(scene: Scene) -> None:
    run = preview(scene)
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    assert (bill.previous_register_kwh, bill.current_register_kwh) == (1000, 1200)
    assert bill.consumption_kwh == Decimal("200")
    lines = [(line.kind, line.kwh, line.amount_minor) for line in bill.lines.order_by("position")]
    # 200 kWh: 50 at 12.00, 100 at 18.50, 50 at 24.00; the service charge; VAT 16 % on both.
    assert lines == [
        (LineKind.ENERGY, Decimal("50"), 60000),
        (LineKind.ENERGY, Decimal("100"), 185000),
        (LineKind.ENERGY, Decimal("50"), 120000),
        (LineKind.FIXED, None, 15000),
        (LineKind.TAX, None, (60000 + 185000 + 120000 + 15000) * 16 // 100),
    ]
    assert bill.amount_minor == A_BILL == 380000 + 60800
    b = Bill.objects.get(run=run, customer=scene.customer(scene.b))
    assert b.amount_minor == B_BILL == (36000 + 15000) * 116 // 100
    assert run.total_minor == A_BILL + B_BILL and run.bill_count == 2


def test_a_preview_posts_nothing_and_lists_the_meters_it_could_not_bill(scene: Scene) -> None:
    entries = JournalEntry.objects.count()
    run = preview(scene)
    assert JournalEntry.objects.count() == entries
    assert set(Bill.objects.filter(run=run).values_list("status", flat=True)) == {BillStatus.DRAFT}
    assert set(Bill.objects.filter(run=run).values_list("number", flat=True)) == {""}
    # The prepaid-only meter is not billed at all; no meter lacks a reading here.
    assert run.exceptions == []


def test_a_postpaid_meter_without_a_reading_this_cycle_is_an_exception(scene: Scene) -> None:
    MeterReading.objects.filter(meter=scene.b, read_at__gte=scene.at(scene.start)).update(
        status=ReadingStatus.REPLACED
    )
    run = preview(scene)
    assert run.bill_count == 1
    assert run.exceptions == [
        {
            "meter": scene.b.number,
            "customer": scene.customer(scene.b).account_number,
            "problem": "no_reading",
        }
    ]


def test_a_bill_on_an_estimate_is_marked_estimated(scene: Scene) -> None:
    from gridvend.identity.roles import Capability, Role
    from gridvend.readings.estimates import estimate_book
    from tests import factories

    # B's reading of the cycle was sent back to be read again; the supervisor estimates it.
    MeterReading.objects.filter(meter=scene.b, read_at__gte=scene.at(scene.start)).update(
        status=ReadingStatus.REREAD
    )
    supervisor = factories.user(
        scene.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    done = estimate_book(actor=supervisor, book=scene.book, on=scene.end)
    [estimate] = done.estimated
    bill = Bill.objects.get(run=preview(scene), customer=scene.customer(scene.b))
    assert bill.is_estimated and bill.current_reading_id == estimate.pk
    assert bill.consumption_kwh == estimate.consumption_kwh
    assert not Bill.objects.get(run=bill.run, customer=scene.customer(scene.a)).is_estimated


def test_whoever_asked_to_post_a_run_may_not_approve_it(scene: Scene) -> None:
    decision = services.request_posting(actor=scene.finance, run=preview(scene))
    with pytest.raises(MakerCheckerViolation):
        services.approve_run_decision(actor=scene.finance, decision=decision)
    assert BillingRun.objects.get().status == RunStatus.AWAITING_APPROVAL
    assert not Bill.objects.exclude(status=BillStatus.DRAFT).exists()


def test_a_posted_run_numbers_its_bills_and_books_them_balanced(scene: Scene) -> None:
    run = scene.billed()
    assert run.status == RunStatus.POSTED
    bills = list(Bill.objects.filter(run=run))
    assert {b.status for b in bills} == {BillStatus.OPEN}
    assert len({b.number for b in bills}) == 2 and all(b.number for b in bills)
    assert account_balance(services.receivable_code(scene.customer(scene.a))) == A_BILL
    assert account_balance("tax:VAT") == -(60800 + 8160)
    assert account_balance("revenue:energy") == -(365000 + 36000)
    assert account_balance("revenue:fixed-charges") == -30000
    assert unbalanced_entries() == []


def test_a_second_run_of_the_same_period_is_refused(scene: Scene) -> None:
    preview(scene)
    with pytest.raises(DomainError) as caught:
        preview(scene)
    assert caught.value.code == "BILLING_RUN_EXISTS"


def test_cancelling_a_run_reverses_it_to_the_cent_and_the_next_run_rebills(scene: Scene) -> None:
    run = scene.billed()
    pay(scene, scene.a, 100000, "before-cancel")
    decision = services.request_cancellation(actor=scene.finance, run=run, reason="Wrong rates")
    with pytest.raises(MakerCheckerViolation):
        services.approve_run_decision(actor=scene.finance, decision=decision)
    services.approve_run_decision(actor=scene.checker, decision=decision)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert set(Bill.objects.filter(run=run).values_list("status", flat=True)) == {
        BillStatus.CANCELLED
    }
    for code in ("revenue:energy", "revenue:fixed-charges", "tax:VAT"):
        assert account_balance(code) == 0
    # The payment stays, as credit on the account, and pays the rebilled bill.
    assert account_balance(services.receivable_code(scene.customer(scene.a))) == -100000
    assert selectors.credit_of(scene.customer(scene.a)) == 100000
    again = scene.billed()
    rebilled = Bill.objects.get(run=again, customer=scene.customer(scene.a))
    assert (rebilled.amount_minor, rebilled.paid_minor) == (A_BILL, 100000)
    assert unbalanced_entries() == []


def test_a_late_fee_is_charged_once_after_the_grace_days(scene: Scene) -> None:
    run = scene.billed()
    pay(scene, scene.a, 40800, "part")
    due = run.due_date
    # Within the grace days (5): nothing.
    assert services.charge_late_fees(actor=scene.finance, today=due + timedelta(days=5)) == 0
    later = due + timedelta(days=6)
    assert services.charge_late_fees(actor=scene.finance, today=later) == 2
    assert services.charge_late_fees(actor=scene.finance, today=later) == 0
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    # 2 % of the 4,000.00 still unpaid, plus 50.00.
    assert bill.late_fee_minor == 8000 + 5000
    assert account_balance("revenue:late-fees") == -(13000 + (B_BILL * 2 + 50) // 100 + 5000)
    entries = JournalEntry.objects.filter(kind="bill.late_fee").count()
    assert entries == 2


def test_ageing_puts_each_bills_arrears_in_its_bucket(scene: Scene) -> None:
    run = scene.billed()
    due = run.due_date
    assert selectors.ageing(scene.finance, today=due).current_minor == A_BILL + B_BILL
    aged = selectors.ageing(scene.finance, today=due + timedelta(days=45))
    assert aged.buckets == (0, A_BILL + B_BILL, 0, 0) and aged.account_count == 2
    pay(scene, scene.b, B_BILL, "b-paid")
    aged = selectors.ageing(scene.finance, today=due + timedelta(days=95))
    assert aged.buckets == (0, 0, 0, A_BILL)
    assert aged.arrears_minor == A_BILL
    due_now = selectors.account_due(
        scene.finance, scene.customer(scene.a).account_number, today=due + timedelta(days=1)
    )
    assert due_now.arrears_minor == A_BILL


def test_another_regions_runs_and_bills_are_not_found(scene: Scene) -> None:
    from gridvend.identity.roles import Capability, Role
    from tests import factories

    run = scene.billed()
    south = factories.user(
        scene.world.tree.south, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,)
    )
    bill = Bill.objects.filter(run=run).first()
    assert bill is not None
    with pytest.raises(NotFound):
        selectors.get_run(south, run.pk)
    with pytest.raises(NotFound):
        selectors.get_bill(south, bill.pk)
    assert not selectors.list_bills(south).exists()
    with pytest.raises(NotFound):
        services.request_cancellation(actor=south, run=run, reason="Not mine")
    assert selectors.ageing(south).total_minor == 0


def test_posting_totals_match_the_bills(scene: Scene) -> None:
    run = scene.billed()
    bills_total = Bill.objects.filter(run=run).aggregate(t=Sum("amount_minor"))["t"]
    posted = Posting.objects.filter(
        entry__kind="bill.posted", account__code__startswith="receivable:"
    ).aggregate(t=Sum("amount_minor"))["t"]
    assert bills_total == posted == run.total_minor


def test_ledger_reconcile_stays_clean_after_billing(scene: Scene) -> None:
    from io import StringIO

    from django.core.management import call_command

    run = scene.billed()
    pay(scene, scene.a, 1000, "rec-1")
    services.charge_late_fees(actor=scene.finance, today=run.due_date + timedelta(days=30))
    cancel = services.request_cancellation(actor=scene.finance, run=run, reason="Redo")
    services.approve_run_decision(actor=scene.checker, decision=cancel)
    out = StringIO()
    call_command("ledger", "reconcile", stdout=out)
    assert "ledger reconciles" in out.getvalue()
    # Every entry billing wrote belongs to a bill or a payment (gridvend verify).
    from gridvend.vending.integrity.books import verify_journal_entries

    assert verify_journal_entries().problems == []
    # The books tie to the bills: every receivable is what its bills owe less credit.
    for meter in (scene.a, scene.b):
        customer = scene.customer(meter)
        owed = sum(b.owed_minor for b in Bill.objects.filter(customer=customer, status="open"))
        assert account_balance(services.receivable_code(customer)) == owed - selectors.credit_of(
            customer
        )


def test_an_adjustment_changes_the_bill_and_posts_to_its_own_revenue(scene: Scene) -> None:
    run = preview(scene)
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    services.adjust_bill(
        actor=scene.finance, bill=bill, label="Meter fault credit", amount_minor=-8000
    )
    with pytest.raises(DomainError):
        services.adjust_bill(
            actor=scene.finance, bill=bill, label="Too much", amount_minor=-(10**9)
        )
    with pytest.raises(DomainError):
        services.adjust_bill(actor=scene.finance, bill=bill, label="", amount_minor=100)
    bill.refresh_from_db()
    run.refresh_from_db()
    assert bill.amount_minor == A_BILL - 8000 and run.total_minor == A_BILL + B_BILL - 8000
    scene.post(run)
    assert account_balance(services.receivable_code(scene.customer(scene.a))) == A_BILL - 8000
    assert account_balance(services.ADJUSTMENT_REVENUE) == 8000
    assert account_balance("revenue:energy") == -(365000 + 36000)
    assert unbalanced_entries() == []
    with pytest.raises(DomainError) as caught:
        services.adjust_bill(actor=scene.finance, bill=bill, label="Late", amount_minor=100)
    assert caught.value.code == "BILLING_RUN_NOT_PREVIEWED"


def test_an_actual_reading_below_last_months_estimate_is_credited_not_billed_as_a_roll_over(
    scene: Scene,
) -> None:
    # About 1 kWh a day for two months, then no reading in the previous cycle.
    meter, estimate, first = scene.estimated("Estimated M", ("400", "430", "460"))
    assert estimate.register_kwh > Decimal("490")
    assert Bill.objects.get(run=first, meter=meter).is_estimated
    # The real reading this cycle is a little below the estimate (the customer used less).
    scene.read(meter, scene.end - timedelta(days=2), "490")
    run = preview(scene)
    bill = Bill.objects.get(run=run, meter=meter)
    over = estimate.register_kwh - Decimal("490")
    assert bill.consumption_kwh == 0
    [credit] = bill.lines.filter(kind=LineKind.ADJUSTMENT)
    assert credit.kwh == -over and credit.amount_minor < 0
    charged = sum(line.amount_minor for line in bill.lines.exclude(kind=LineKind.ADJUSTMENT))
    assert bill.amount_minor == charged + credit.amount_minor >= 0
    scene.post(run)
    assert not unbalanced_entries()


def test_the_person_who_prepared_or_adjusted_a_run_may_not_approve_its_posting(
    scene: Scene,
) -> None:
    run = preview(scene)
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    # The preparer credits a bill, then a colleague merely sends the run for approval ...
    services.adjust_bill(actor=scene.finance, bill=bill, label="goodwill", amount_minor=-400000)
    decision = services.request_posting(actor=scene.checker, run=run)
    # ... and neither the preparer nor the one who adjusted may approve it.
    with pytest.raises(MakerCheckerViolation):
        services.approve_run_decision(actor=scene.finance, decision=decision)
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    assert not JournalEntry.objects.filter(kind="bill.posted").exists()


def test_whoever_adjusted_a_run_prepared_by_another_may_not_approve_its_posting(
    scene: Scene,
) -> None:
    run = preview(scene)
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    services.adjust_bill(actor=scene.checker, bill=bill, label="goodwill", amount_minor=-100)
    decision = services.request_posting(actor=scene.finance, run=run)
    with pytest.raises(MakerCheckerViolation):
        services.approve_run_decision(actor=scene.checker, decision=decision)
