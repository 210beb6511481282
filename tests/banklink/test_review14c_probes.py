"""Third review of issue 14 (bank link): a clerk's cancel of a bank payment while the bank's
day is being reconciled, and the superseded reconciliation of the second review's fix."""

from __future__ import annotations

import pytest

from gridvend.banklink.models import LineKind, Reconciliation, ReconciliationStatus
from gridvend.banklink.services import reconciliation
from gridvend.billing import services as billing
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.gateways.banklink import handlers, layout
from gridvend.gateways.banklink.layout import ReturnCode
from gridvend.kernel.errors import DomainError
from gridvend.ledger.services import today
from tests.banklink.conftest import Bank, request

pytestmark = pytest.mark.django_db(transaction=True)


def _paid(bank: Bank, serial: str, account: str, amount: int) -> BillPayment:
    got = handlers.answer(
        bank.link,
        request(bank, layout.PAY, bank_serial=serial, account_number=account, amount=amount),
    )
    assert got.return_code == ReturnCode.OK
    return BillPayment.objects.get(source_reference=serial)


def _open_day(bank: Bank) -> tuple[BillPayment, Reconciliation]:
    b_account = bank.scene.customer(bank.scene.b).account_number
    p1 = _paid(bank, "Q1", bank.account, 100000)
    _paid(bank, "Q2", b_account, 20000)
    # The bank says Q2 was 201.00: the day stays open with Q1 matched.
    recon = reconciliation.receive(
        actor=bank.link.partner.service_user,
        link=bank.link,
        bank_date=today(),
        rows=[
            reconciliation.BankRow("Q1", bank.account, 100000),
            reconciliation.BankRow("Q2", b_account, 20100),
        ],
        source="message",
    )
    assert recon.status == ReconciliationStatus.OPEN
    return p1, recon


def test_a_clerk_cannot_cancel_a_bank_payment_while_its_day_is_being_reconciled(
    bank: Bank,
) -> None:
    p1, recon = _open_day(bank)
    # The bank's own cancel is refused RECONCILIATION_IN_PROGRESS; the back office's cancel
    # (billing.cancel_payment, the payment screen) must be refused too, or the day closes
    # with Q1 "matched" to a payment we no longer hold while the bank keeps the money.
    with pytest.raises(DomainError):
        billing.cancel_payment(actor=bank.scene.finance, payment=p1, reason="customer asked")
    p1.refresh_from_db()
    assert p1.status == PaymentStatus.RECEIVED
    line = recon.lines.get(bank_serial="Q2")
    reconciliation.resolve_discrepancy(actor=bank.scene.world.admin, line=line, reason="bank typo")
    reconciliation.close(actor=bank.scene.world.admin, reconciliation=recon)
    p1.refresh_from_db()
    assert p1.reconciled_at is not None


def test_a_superseded_reconciliation_neither_blocks_nor_marks_the_days_payments(
    bank: Bank,
) -> None:
    p1, first = _open_day(bank)
    b_account = bank.scene.customer(bank.scene.b).account_number
    # The bank corrects its file: everything matches now, the day closes, the first is kept
    # as superseded and cannot be closed or resolved.
    second = reconciliation.receive(
        actor=bank.link.partner.service_user,
        link=bank.link,
        bank_date=today(),
        rows=[
            reconciliation.BankRow("Q1", bank.account, 100000),
            reconciliation.BankRow("Q2", b_account, 20000),
        ],
        source="message",
    )
    first.refresh_from_db()
    assert first.status == ReconciliationStatus.SUPERSEDED
    assert second.status == ReconciliationStatus.CLOSED
    assert set(BillPayment.objects.values_list("reconciliation_ref", flat=True)) == {
        second.reference
    }
    line = first.lines.get(kind=LineKind.AMOUNT_DIFFERS)
    with pytest.raises(DomainError) as caught:
        reconciliation.resolve_discrepancy(actor=bank.scene.world.admin, line=line, reason="late")
    assert caught.value.code == "BANK_RECONCILIATION_SUPERSEDED"
    with pytest.raises(DomainError):
        reconciliation.close(actor=bank.scene.world.admin, reconciliation=first)
    assert p1.pk in set(
        BillPayment.objects.filter(reconciled_at__isnull=False).values_list("pk", flat=True)
    )
