"""The fixed-format bank link's answers, message by message (no socket): what a bill that owes
only part of its late fee reads as, and replies to payments already in the books."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.billing import services as billing
from gridvend.billing.models import Bill, BillPayment, PaymentStatus
from gridvend.gateways.banklink import handlers, layout
from gridvend.gateways.banklink.layout import ReturnCode
from tests.banklink.conftest import Bank, reply_fields, request
from tests.billing.test_payments import A_BILL

pytestmark = pytest.mark.django_db(transaction=True)


def _late_fee(bank: Bank) -> Bill:
    bill = Bill.objects.get(customer=bank.scene.customer(bank.scene.a))
    billing.charge_late_fee(actor=None, bill=bill, today=bill.due_date + timedelta(days=30))
    bill.refresh_from_db()
    assert bill.late_fee_minor > 0
    return bill


def _first_row(bank: Bank, body: bytes) -> tuple[int, int]:
    """(amount, late fee) of the reply's first arrears row."""
    at = sum(width for _name, width in layout.REPLY_HEAD)
    fields: dict[str, int] = {}
    for name, width in layout.ARREAR_ROW:
        if name in ("amount", "late_fee"):
            fields[name] = int(body[at : at + width])
        at += width
    return fields["amount"], fields["late_fee"]


def test_a_query_of_a_bill_paid_past_its_amount_reads_only_the_rest_of_its_late_fee(
    bank: Bank,
) -> None:
    bill = _late_fee(bank)
    half = bill.late_fee_minor // 2
    billing.take_payment(
        actor=bank.partner.service_user, account_number=bank.account,
        amount_minor=A_BILL + half, currency="KES",
        channel="bank", source_reference="X1", partner=bank.partner,
    )  # fmt: skip
    answer = handlers.answer(bank.link, request(bank, layout.QUERY))
    assert answer.return_code == ReturnCode.OK, answer
    assert _first_row(bank, answer.body) == (0, bill.late_fee_minor - half)


def test_a_bank_payment_that_leaves_only_part_of_a_late_fee_is_answered_ok(bank: Bank) -> None:
    bill = _late_fee(bank)
    body = request(bank, layout.PAY, bank_serial="P9", amount=A_BILL + bill.late_fee_minor // 2)
    answer = handlers.answer(bank.link, body)
    taken = BillPayment.objects.filter(source_reference="P9", status=PaymentStatus.RECEIVED)
    # The payment is in the books: the bank is told so, never "system error".
    assert taken.count() == 1
    assert reply_fields(bank, answer.body)["return_code"] == ReturnCode.OK, answer


def test_a_pay_replayed_after_its_cancel_is_refused_as_cancelled(bank: Bank) -> None:
    pay = request(bank, layout.PAY, bank_serial="P7", amount=1000)
    assert handlers.answer(bank.link, pay).return_code == ReturnCode.OK
    cancel = request(bank, layout.CANCEL, bank_serial="C7", original_serial="P7")
    assert handlers.answer(bank.link, cancel).return_code == ReturnCode.OK
    again = handlers.answer(bank.link, pay)
    assert BillPayment.objects.get(source_reference="P7").status == PaymentStatus.CANCELLED
    assert again.return_code == ReturnCode.ALREADY_CANCELLED
    assert reply_fields(bank, again.body)["return_code"] == "3002"
    assert BillPayment.objects.filter(source_reference="P7").count() == 1


def test_a_bank_payment_to_a_closed_account_with_nothing_owed_is_refused(bank: Bank) -> None:
    from gridvend.customers import services as customers
    from gridvend.customers.models import CustomerStatus

    customer = bank.scene.customer(bank.scene.a)
    paid = request(bank, layout.PAY, bank_serial="PF1", amount=A_BILL)
    assert handlers.answer(bank.link, paid).return_code == ReturnCode.OK
    customers.set_customer_status(
        actor=bank.scene.world.admin, customer=customer, status=CustomerStatus.CLOSED,
        reason="moved away",
    )  # fmt: skip
    late = handlers.answer(bank.link, request(bank, layout.PAY, bank_serial="PF2", amount=50000))
    # 500.00 taken into an account that will never have another bill would be stuck credit.
    assert late.return_code == ReturnCode.ACCOUNT_CLOSED
    assert not BillPayment.objects.filter(source_reference="PF2").exists()


def test_a_closed_account_owing_a_little_takes_that_much_and_no_more(bank: Bank) -> None:
    from gridvend.customers import services as customers
    from gridvend.customers.models import CustomerStatus

    customer = bank.scene.customer(bank.scene.a)
    part = request(bank, layout.PAY, bank_serial="PC1", amount=A_BILL - 100)
    assert handlers.answer(bank.link, part).return_code == ReturnCode.OK
    customers.set_customer_status(
        actor=bank.scene.world.admin, customer=customer, status=CustomerStatus.CLOSED,
        reason="moved away",
    )  # fmt: skip
    # 1.00 is owed: 500.00 would leave 499.00 as credit that no bill will ever take.
    over = handlers.answer(bank.link, request(bank, layout.PAY, bank_serial="PC2", amount=50000))
    assert over.return_code == ReturnCode.ACCOUNT_CLOSED == "1007"
    assert not BillPayment.objects.filter(source_reference="PC2").exists()
    exact = handlers.answer(bank.link, request(bank, layout.PAY, bank_serial="PC3", amount=100))
    assert exact.return_code == ReturnCode.OK
    assert Bill.objects.get(customer=customer).owed_minor == 0
