"""Fourth (final) review of issue 14 (bank link), kept as probes: the daily reconciliation's
detail comparison, and a replay of the reconciliation fixes' rules."""

from __future__ import annotations

import pytest

from gridvend.banklink.models import LineKind, ReconciliationStatus
from gridvend.banklink.services import reconciliation
from gridvend.billing.models import BillPayment
from gridvend.gateways.banklink import handlers, layout
from gridvend.gateways.banklink.layout import ReturnCode
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


def test_a_bank_row_naming_another_account_is_a_discrepancy(bank: Bank) -> None:
    """Defect: reconciliation._compare matches a bank row to our payment by serial and amount
    only; the row's account number is read, stored on the line and never compared. The bank
    says serial R1 paid account B; we booked R1 to account A (a teller's typo the bank's own
    system corrected, or a misrouted payment): the day closes clean as 'matched', both
    payments are marked reconciled and can no longer be cancelled, and nobody is asked why
    B's money sits on A. The issue asks for totals *and details* compared. Fix: a line whose
    account differs is a discrepancy (its own kind, or amount_differs' sibling). Severity:
    medium."""
    b_account = bank.scene.customer(bank.scene.b).account_number
    _paid(bank, "R1", bank.account, 50000)
    recon = reconciliation.receive(
        actor=bank.link.partner.service_user,
        link=bank.link,
        bank_date=today(),
        rows=[reconciliation.BankRow("R1", b_account, 50000)],
        source="message",
    )
    [line] = recon.lines.all()
    assert line.account_number == b_account
    assert line.kind != LineKind.MATCHED, "a row naming another account closed the day as matched"
    assert recon.status == ReconciliationStatus.OPEN


def test_a_clean_day_closes_at_once_and_its_payment_cannot_be_cancelled(bank: Bank) -> None:
    """Pins (held): a day whose rows match (serial, account, amount) closes at once and its
    payment is then refused a cancel over the link (ALREADY_RECONCILED)."""
    _paid(bank, "R2", bank.account, 50000)
    recon = reconciliation.receive(
        actor=bank.link.partner.service_user,
        link=bank.link,
        bank_date=today(),
        rows=[reconciliation.BankRow("R2", bank.account, 50000)],
        source="message",
    )
    assert recon.status == ReconciliationStatus.CLOSED
    got = handlers.answer(
        bank.link,
        request(
            bank, layout.CANCEL, bank_serial="C2", account_number=bank.account,
            original_serial="R2",
        ),
    )  # fmt: skip
    assert got.return_code == ReturnCode.ALREADY_RECONCILED


def test_a_serial_sent_again_for_another_bank_date_is_not_answered_as_a_replay(
    bank: Bank,
) -> None:
    """Defect: a pay whose serial, account and amount equal an earlier payment's is answered
    0000 with the earlier payment (billing's idempotency on the source reference), whatever
    its bank accounting date, outlet or teller: services/payments.pay passes the facts but
    _same_or_refused compares only account and amount. A bank whose serials restart daily
    (or a teller's second payment reusing a serial) is told the payment of today is booked,
    while the books hold only yesterday's: the customer's money is lost to the account.
    A replay carries the same bank date; another date is another payment and should be
    refused 2002 (SERIAL_REUSED), as another amount is. Severity: low (the docs make serials
    unique per bank, so this needs the bank to break its contract; nothing tells it it did)."""
    from datetime import timedelta

    yesterday = today() - timedelta(days=1)
    first = handlers.answer(
        bank.link,
        request(
            bank, layout.PAY, bank_serial="D1", amount=30000,
            bank_date=yesterday.strftime("%Y%m%d"),
        ),
    )  # fmt: skip
    assert first.return_code == ReturnCode.OK
    again = handlers.answer(bank.link, request(bank, layout.PAY, bank_serial="D1", amount=30000))
    assert again.return_code == ReturnCode.SERIAL_REUSED, (
        f"today's payment under yesterday's serial answered {again.return_code}; "
        f"payments booked: {BillPayment.objects.filter(source_reference='D1').count()}"
    )
