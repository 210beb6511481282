"""Third review of issue 14 (billing): the over-estimate credit note of the second review's fix,
attacked as a careless finance clerk — cancelled as if it were money, kept after the estimate it
credits is cancelled, and its arrears release not given back with the run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from gridvend.billing import services
from gridvend.billing.integrity import verify_arrears_debts
from gridvend.billing.models import Bill, BillingRun, BillPayment, BillStatus, PaymentStatus
from gridvend.customers.models import AccountKind, Debt
from gridvend.kernel.errors import DomainError
from gridvend.ledger.selectors import account_balance, unbalanced_entries
from tests.billing.conftest import Scene

pytestmark = pytest.mark.django_db


@dataclass
class Carried:
    first: BillingRun  # the run with the estimated bill
    run: BillingRun  # the later run whose actual is 40 kWh below the estimate
    estimated: Bill
    note: BillPayment  # the credit note the later run carried


def _carried(scene: Scene, kind: str = AccountKind.POSTPAID, hand_over: bool = False) -> Carried:
    """As tests/billing/test_review14b.py: an estimate deep in block 3, then an actual 40 kWh
    below it, worth more than the later bill: the rest carried as a credit note."""
    meter, estimate, first = scene.estimated("Heavy estimated", ("1000", "1300", "1600"), kind)
    estimated = Bill.objects.get(run=first, meter=meter)
    if hand_over:
        debt = services.transfer_arrears_to_debt(
            actor=scene.finance,
            customer=estimated.customer,
            today=estimated.due_date + timedelta(days=1),
        )
        assert debt is not None and debt.balance_minor == estimated.amount_minor
    scene.read(meter, scene.end - timedelta(days=2), str(estimate.register_kwh - 40))
    run = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    scene.post(run)
    [note] = BillPayment.objects.filter(customer=estimated.customer, channel="credit_note")
    assert note.amount_minor > 0
    return Carried(first, run, estimated, note)


def _cancel(scene: Scene, run: BillingRun) -> None:
    decision = services.request_cancellation(actor=scene.finance, run=run, reason="wrong run")
    services.approve_run_decision(actor=scene.checker, decision=decision)


def test_a_credit_note_cannot_be_cancelled_as_if_it_were_a_payment(scene: Scene) -> None:
    c = _carried(scene)
    # A clerk sees a "payment" on the account that no bank or till ever sent and cancels it:
    # the customer loses the credit for kWh they never used while the bill that carried it
    # stands. Only the run's cancel takes a credit note back.
    with pytest.raises(DomainError):
        services.cancel_payment(actor=scene.finance, payment=c.note, reason="no such money")
    c.note.refresh_from_db()
    assert c.note.status == PaymentStatus.RECEIVED


def test_cancelling_the_estimated_run_after_the_later_run_leaves_no_credit_for_it(
    scene: Scene,
) -> None:
    c = _carried(scene)
    # The later run credited (and carried) what the estimate over-charged. Cancelling the run
    # of the estimate takes the over-charge back; the credit for it must not survive, or the
    # customer is credited twice for the same 40 kWh (once by the reversal, once by the note).
    try:
        _cancel(scene, c.first)
    except DomainError:
        return  # refused: cancel the later run first — a defence that holds
    c.estimated.refresh_from_db()
    c.note.refresh_from_db()
    assert c.estimated.status == BillStatus.CANCELLED
    assert c.note.status == PaymentStatus.CANCELLED, (
        "the credit note of an over-estimate outlives the estimated bill it credits"
    )
    assert unbalanced_entries() == []


def test_cancelling_the_run_that_carried_a_credit_gives_the_arrears_debt_back(
    scene: Scene,
) -> None:
    c = _carried(scene, kind=AccountKind.BOTH, hand_over=True)
    customer = c.estimated.customer
    c.estimated.refresh_from_db()
    # The note paid part of the estimated bill, past due: the debt was lowered to match.
    held = sum(
        Debt.objects.filter(customer=customer, source="billing").values_list(
            "balance_minor", flat=True
        )
    )
    assert held == c.estimated.owed_minor
    _cancel(scene, c.run)
    c.estimated.refresh_from_db()
    assert c.estimated.paid_minor == 0 and c.estimated.status == BillStatus.OPEN
    held = sum(
        Debt.objects.filter(customer=customer, source="billing").values_list(
            "balance_minor", flat=True
        )
    )
    # The estimated bill owes its whole amount again; the debt token purchases recover must
    # hold it again, as a cancelled cash payment's give-back does (_unsettle_debts).
    assert held == c.estimated.owed_minor
    assert account_balance(f"debt:{customer.account_number}") == held
    assert verify_arrears_debts().problems == [] and unbalanced_entries() == []
