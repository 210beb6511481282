"""Review 14 probes (attacker / careless user) on the fixed-format bank link."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.billing import services as billing
from gridvend.billing.models import Bill, BillPayment
from gridvend.gateways.banklink import handlers, layout
from gridvend.gateways.banklink.layout import ReturnCode
from tests.banklink.conftest import Bank, request
from tests.billing.test_payments import A_BILL

pytestmark = pytest.mark.django_db(transaction=True)


def _late_fee(bank: Bank) -> Bill:
    bill = Bill.objects.get(customer=bank.scene.customer(bank.scene.a))
    billing.charge_late_fee(actor=None, bill=bill, today=bill.due_date + timedelta(days=30))
    bill.refresh_from_db()
    assert bill.late_fee_minor > 0
    return bill


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
    # 500.00 taken into an account that will never have another bill: stuck credit.
    assert late.return_code != ReturnCode.OK, BillPayment.objects.filter(source_reference="PF2")
