"""The payment contract the cashier screen and the bank link code against: what an account owes,
payments allocated oldest first, credit kept for the next bill, idempotent references, the cancel
rules, reconciliation, scoping, and two payments of one account at once on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.billing import selectors, services
from gridvend.billing.models import Bill, BillPayment, BillStatus, PaymentStatus
from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.ledger.models import JournalEntry
from gridvend.ledger.selectors import account_balance, unbalanced_entries
from tests import factories
from tests.billing.conftest import Scene

pytestmark = pytest.mark.django_db

A_BILL = 440800  # 200 kWh: 50 x 12.00 + 100 x 18.50 + 50 x 24.00 + 150.00 charge, VAT 16 %
B_BILL = 59160  # 30 kWh: 30 x 12.00 + 150.00 charge = 510.00, VAT 81.60


def pay(s: Scene, meter: Any, amount: int, ref: str, **extra: Any) -> BillPayment:
    return services.take_payment(
        actor=extra.pop("actor", s.finance),
        account_number=s.customer(meter).account_number,
        amount_minor=amount,
        currency="KES",
        channel=extra.pop("channel", "bank"),
        source_reference=ref,
        **extra,
    )


def refused(code: str, call: Any) -> None:
    before = (BillPayment.objects.count(), JournalEntry.objects.count(), AuditEvent.objects.count())
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code
    after = (BillPayment.objects.count(), JournalEntry.objects.count(), AuditEvent.objects.count())
    assert after == before


def test_account_due_lists_open_bills_and_what_is_owed(scene: Scene) -> None:
    scene.billed()
    due = selectors.account_due(scene.finance, scene.customer(scene.a).account_number)
    assert due.total_due_minor == A_BILL and due.currency == "KES"
    assert [b.amount_minor for b in due.open_bills] == [A_BILL]
    assert due.arrears_minor == 0 and due.last_payment is None and not due.is_estimated


def test_a_prepaid_only_account_has_no_bills_to_pay(scene: Scene) -> None:
    number = scene.customer(scene.prepaid).account_number
    with pytest.raises(DomainError) as caught:
        selectors.account_due(scene.finance, number)
    assert caught.value.code == "ACCOUNT_NOT_POSTPAID"
    refused("ACCOUNT_NOT_POSTPAID", lambda: pay(scene, scene.prepaid, 100, "p-1"))


def test_another_regions_account_is_not_found(scene: Scene) -> None:
    with pytest.raises(NotFound):
        selectors.account_due(scene.finance, scene.customer(scene.south).account_number)
    refused("NOT_FOUND", lambda: pay(scene, scene.south, 100, "s-1"))
    with pytest.raises(NotFound):
        selectors.account_due(scene.finance, "NO-SUCH-ACCOUNT")


def test_a_payment_posts_to_the_receivable_and_pays_the_bill(scene: Scene) -> None:
    scene.billed()
    payment = pay(scene, scene.a, A_BILL, "bank-1", bank_facts={"serial": "991", "teller": "T7"})
    assert payment.allocated_minor == A_BILL and payment.bank_facts["teller"] == "T7"
    bill = Bill.objects.get(customer=scene.customer(scene.a))
    assert (bill.status, bill.paid_minor) == (BillStatus.PAID, A_BILL)
    assert account_balance(services.receivable_code(scene.customer(scene.a))) == 0
    assert account_balance("bank:bank") == A_BILL
    assert AuditEvent.objects.filter(event_type="bill_payment.received").count() == 1
    assert unbalanced_entries() == []


def test_payments_pay_the_oldest_bill_first_and_keep_the_rest_as_credit(scene: Scene) -> None:
    older = scene.post(
        services.preview_run(
            actor=scene.finance,
            book=scene.book,
            period_start=services.default_period(scene.book, scene.start)[0],
            period_end=scene.start - timedelta(days=1),
            issue_date=scene.start,
        )
    )
    newer = scene.billed()
    old = Bill.objects.get(run=older, customer=scene.customer(scene.a))
    new = Bill.objects.get(run=newer, customer=scene.customer(scene.a))
    # The first bill reads 1,000 kWh with nothing before it: the standing charge and its VAT.
    assert (old.consumption_kwh, old.amount_minor) == (0, 17400)
    assert new.previous_balance_minor == 17400
    payment = pay(scene, scene.a, 17400 + 1000, "bank-2")
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.status == BillStatus.PAID and (new.status, new.paid_minor) == (BillStatus.OPEN, 1000)
    assert payment.allocated_minor == 18400
    pay(scene, scene.a, A_BILL, "bank-3")
    new.refresh_from_db()
    assert new.status == BillStatus.PAID
    assert selectors.credit_of(scene.customer(scene.a)) == 1000


def test_an_overpayment_is_credit_that_the_next_bill_uses(scene: Scene) -> None:
    pay(scene, scene.a, 500000, "early-1")
    due = selectors.account_due(scene.finance, scene.customer(scene.a).account_number)
    assert due.credit_minor == 500000 and due.total_due_minor == 0
    scene.billed()
    bill = Bill.objects.get(customer=scene.customer(scene.a))
    assert bill.status == BillStatus.PAID and bill.previous_balance_minor == -500000
    due = selectors.account_due(scene.finance, scene.customer(scene.a).account_number)
    assert due.credit_minor == 500000 - A_BILL and due.open_bills == []
    assert account_balance(services.receivable_code(scene.customer(scene.a))) == A_BILL - 500000


def test_the_same_reference_and_amount_returns_the_first_payment(scene: Scene) -> None:
    first = pay(scene, scene.a, 1000, "dup-1")
    again = pay(scene, scene.a, 1000, "dup-1")
    assert again.pk == first.pk and BillPayment.objects.count() == 1
    assert (
        selectors.find_payment(
            scene.finance, channel="bank", partner=None, source_reference="dup-1"
        ).pk
        == first.pk
    )


def test_the_same_reference_with_another_amount_is_refused(scene: Scene) -> None:
    pay(scene, scene.a, 1000, "dup-2")
    refused("PAYMENT_REFERENCE_REUSED", lambda: pay(scene, scene.a, 1001, "dup-2"))
    refused("PAYMENT_REFERENCE_REUSED", lambda: pay(scene, scene.b, 1000, "dup-2"))


@pytest.mark.parametrize("amount", [0, -5, 10**12, True])
def test_an_amount_out_of_bounds_is_refused(scene: Scene, amount: int) -> None:
    refused("PAYMENT_AMOUNT_INVALID", lambda: pay(scene, scene.a, amount, "bad"))


@pytest.mark.parametrize("ref", ["", " ", "x" * 65, "a\u202eb", "a\x00b"])
def test_a_hostile_reference_is_refused(scene: Scene, ref: str) -> None:
    refused("BILL_PAYMENT_REFERENCE_INVALID", lambda: pay(scene, scene.a, 100, ref))


def test_cancel_takes_the_payment_back_from_the_bill_to_the_cent(scene: Scene) -> None:
    scene.billed()
    payment = pay(scene, scene.a, 100000, "c-1")
    services.cancel_payment(actor=scene.world.supervisor, payment=payment, reason="Wrong account")
    payment.refresh_from_db()
    bill = Bill.objects.get(customer=scene.customer(scene.a))
    assert payment.status == PaymentStatus.CANCELLED and bill.paid_minor == 0
    assert account_balance(services.receivable_code(scene.customer(scene.a))) == A_BILL
    assert account_balance("bank:bank") == 0


def test_cancelling_an_earlier_payment_lets_a_later_payments_credit_pay_the_bill(
    scene: Scene,
) -> None:
    scene.billed()
    mistaken = pay(scene, scene.a, 100000, "c-early")
    full = pay(scene, scene.a, A_BILL, "c-full")
    assert full.allocated_minor == A_BILL - 100000  # 1,000.00 of it was credit
    services.cancel_payment(actor=scene.world.supervisor, payment=mistaken, reason="Teller error")
    full.refresh_from_db()
    bill = Bill.objects.get(customer=scene.customer(scene.a))
    # The bill owes nothing: the credit paid back what the cancel took, and none is left over.
    assert (bill.status, bill.paid_minor) == (BillStatus.PAID, A_BILL)
    assert full.allocated_minor == A_BILL and selectors.credit_of(scene.customer(scene.a)) == 0
    due = selectors.account_due(
        scene.finance, scene.customer(scene.a).account_number, today=bill.due_date + timedelta(1)
    )
    assert (due.total_due_minor, due.arrears_minor) == (0, 0)
    assert account_balance(services.receivable_code(scene.customer(scene.a))) == 0


def test_a_second_cancel_is_refused(scene: Scene) -> None:
    payment = pay(scene, scene.a, 1000, "c-2")
    services.cancel_payment(actor=scene.world.supervisor, payment=payment, reason="Typo")
    refused(
        "PAYMENT_ALREADY_CANCELLED",
        lambda: services.cancel_payment(actor=scene.world.supervisor, payment=payment, reason="x"),
    )


def test_a_cancel_on_a_later_day_is_refused(scene: Scene) -> None:
    payment = pay(scene, scene.a, 1000, "c-3")
    BillPayment.objects.filter(pk=payment.pk).update(
        business_date=payment.business_date - timedelta(days=1)
    )
    payment.refresh_from_db()
    refused(
        "PAYMENT_CANCEL_TOO_LATE",
        lambda: services.cancel_payment(actor=scene.world.supervisor, payment=payment, reason="x"),
    )


def test_a_reconciled_payment_cannot_be_cancelled(scene: Scene) -> None:
    payment = pay(scene, scene.a, 1000, "c-4")
    assert (
        services.mark_reconciled(
            actor=scene.finance, payments=[payment], reconciliation_ref="REC-1"
        )
        == 1
    )
    payment.refresh_from_db()
    assert payment.reconciled_at is not None
    refused(
        "PAYMENT_ALREADY_RECONCILED",
        lambda: services.cancel_payment(actor=scene.world.supervisor, payment=payment, reason="x"),
    )


def test_a_cashier_may_not_cancel_a_payment(scene: Scene) -> None:
    payment = pay(scene, scene.a, 1000, "c-5")
    refused(
        "PERMISSION_DENIED",
        lambda: services.cancel_payment(actor=scene.world.cashier, payment=payment, reason="x"),
    )


def test_someone_without_cash_or_finance_duties_may_not_take_a_payment(scene: Scene) -> None:
    care = factories.user(scene.world.tree.north, Role.OPERATOR, (Capability.CUSTOMER_CARE,))
    refused("PERMISSION_DENIED", lambda: pay(scene, scene.a, 1000, "n-1", actor=care))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_payments_of_one_account_at_once_never_pay_a_bill_twice(scene: Scene) -> None:
    from tests.threads import run_threads

    scene.billed()
    _results, errors = run_threads(2, lambda i: pay(scene, scene.a, A_BILL, f"race-{i}"))
    assert errors == []
    bill = Bill.objects.get(customer=scene.customer(scene.a))
    payments = list(BillPayment.objects.filter(customer=scene.customer(scene.a)))
    assert bill.paid_minor == A_BILL and bill.status == BillStatus.PAID
    assert sorted(p.allocated_minor for p in payments) == [0, A_BILL]
    assert selectors.credit_of(scene.customer(scene.a)) == A_BILL
    assert unbalanced_entries() == []
