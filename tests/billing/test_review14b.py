"""The second review of issue 14, kept as tests: arrears debts revived by a cancel when nothing
is owed any more, and over-estimate credits priced at the first block and never carried."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from gridvend.billing import services
from gridvend.billing.integrity import verify_arrears_debts
from gridvend.billing.models import Bill, BillPayment, LineKind, PaymentStatus
from gridvend.customers.models import Debt
from gridvend.ledger.selectors import account_balance, unbalanced_entries
from gridvend.vending.integrity.books import verify_debts, verify_journal_entries
from tests.billing.conftest import Scene
from tests.billing.test_payments import B_BILL, pay

pytestmark = pytest.mark.django_db


def _handed_over(scene: Scene) -> tuple[Bill, Debt]:
    run = scene.billed()
    customer = scene.customer(scene.b)
    debt = services.transfer_arrears_to_debt(
        actor=scene.finance, customer=customer, today=run.due_date + timedelta(days=1)
    )
    assert debt is not None and debt.balance_minor == B_BILL
    return Bill.objects.get(run=run, customer=customer), debt


def _books_clean(scene: Scene) -> None:
    customer = scene.customer(scene.b)
    held = sum(
        Debt.objects.filter(customer=customer, source="billing").values_list(
            "balance_minor", flat=True
        )
    )
    assert account_balance(f"debt:{customer.account_number}") == held
    assert account_balance(services.ARREARS_CLEARING) == -held
    assert unbalanced_entries() == []
    assert verify_arrears_debts().problems == []
    assert verify_debts().problems == [] and verify_journal_entries().problems == []


def test_paying_twice_then_cancelling_the_first_leaves_no_debt_for_tokens_to_recover(
    scene: Scene,
) -> None:
    bill, debt = _handed_over(scene)
    first = pay(scene, scene.b, B_BILL, "twice-1")
    second = pay(scene, scene.b, B_BILL, "twice-2")
    assert first.debt_settled_minor == B_BILL and second.debt_settled_minor == 0
    services.cancel_payment(actor=scene.finance, payment=first, reason="paid twice")
    # The second payment's credit pays the bill again: nothing is owed, so the debt holds 0.
    bill.refresh_from_db()
    debt.refresh_from_db()
    assert bill.owed_minor == 0
    assert debt.balance_minor == 0
    first.refresh_from_db()
    assert first.status == PaymentStatus.CANCELLED and first.debt_release_entry_id is not None
    _books_clean(scene)


def test_cancelling_the_run_then_the_payment_leaves_no_debt_for_tokens_to_recover(
    scene: Scene,
) -> None:
    bill, debt = _handed_over(scene)
    payment = pay(scene, scene.b, B_BILL, "run-then-pay")
    decision = services.request_cancellation(actor=scene.finance, run=bill.run, reason="wrong")
    services.approve_run_decision(actor=scene.checker, decision=decision)
    services.cancel_payment(actor=scene.finance, payment=payment, reason="refund")
    debt.refresh_from_db()
    # No bill is left: the debt the cancel gave back is released at once.
    assert debt.balance_minor == 0
    _books_clean(scene)


def test_a_cancel_gives_the_debt_back_only_as_far_as_the_bills_owe_again(scene: Scene) -> None:
    bill, debt = _handed_over(scene)
    first = pay(scene, scene.b, B_BILL, "part-1")
    pay(scene, scene.b, 20000, "part-2")  # 200.00 of credit
    services.cancel_payment(actor=scene.finance, payment=first, reason="bounced")
    bill.refresh_from_db()
    debt.refresh_from_db()
    assert bill.owed_minor == B_BILL - 20000
    assert debt.balance_minor == B_BILL - 20000
    _books_clean(scene)


def test_verify_finds_a_debt_holding_more_than_the_bills_owe(scene: Scene) -> None:
    _bill, debt = _handed_over(scene)
    assert verify_arrears_debts().problems == []
    pay(scene, scene.b, B_BILL, "all-paid")
    # As the old cancel did: the debt is given back while no bill owes anything.
    Debt.objects.filter(pk=debt.pk).update(balance_minor=B_BILL, settled_minor=0)
    [problem] = verify_arrears_debts().problems
    account = scene.customer(scene.b).account_number
    assert account in problem and f"hold {B_BILL}" in problem and "owe 0" in problem
    # `gridvend ledger reconcile` (and so `gridvend verify`) runs the check.
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("ledger", "reconcile", stdout=out)
    assert f"UNTIED postpaid arrears: {problem}" in out.getvalue()


def test_an_over_estimate_is_credited_at_the_block_it_was_billed_at_and_the_rest_carried(
    scene: Scene,
) -> None:
    # About 10 kWh a day, then no reading in the previous cycle: an estimate deep in block 3.
    meter, estimate, first = scene.estimated("Heavy estimated", ("1000", "1300", "1600"))
    estimated = Bill.objects.get(run=first, meter=meter)
    assert estimated.is_estimated and estimated.consumption_kwh > 150 + 40
    # The actual register is 40 kWh below the estimate: 40 kWh billed at 24.00 in block 3,
    # plus VAT 16 %: 40 x 24.00 x 1.16 = 1,113.60 (the first block would say 556.80).
    scene.read(meter, scene.end - timedelta(days=2), str(estimate.register_kwh - 40))
    run = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    bill = Bill.objects.get(run=run, meter=meter)
    charged = sum(line.amount_minor for line in bill.lines.exclude(kind=LineKind.ADJUSTMENT))
    [credit] = bill.lines.filter(kind=LineKind.ADJUSTMENT)
    assert credit.kwh == Decimal(-40)
    assert 0 < charged < 111360
    assert credit.amount_minor == -charged and bill.amount_minor == 0
    assert bill.credit_carried_minor == 111360 - charged
    scene.post(run)
    # The rest is the account's credit: it pays the estimated bill, still open.
    [note] = BillPayment.objects.filter(customer=bill.customer, channel="credit_note")
    assert note.amount_minor == 111360 - charged
    estimated.refresh_from_db()
    assert estimated.paid_minor == 111360 - charged
    assert account_balance(services.ADJUSTMENT_REVENUE) == 111360
    assert unbalanced_entries() == [] and verify_journal_entries().problems == []
    # Cancelling the run takes the carried credit back from the bill it paid.
    decision = services.request_cancellation(actor=scene.finance, run=run, reason="re-read")
    services.approve_run_decision(actor=scene.checker, decision=decision)
    note.refresh_from_db()
    estimated.refresh_from_db()
    assert note.status == PaymentStatus.CANCELLED and estimated.paid_minor == 0
    assert account_balance(services.ADJUSTMENT_REVENUE) == 0
    assert unbalanced_entries() == [] and verify_journal_entries().problems == []
