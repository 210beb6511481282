"""Third review of issue 14 (Billpay): a refund promise abused to cancel an old payment, and a
payment to a closed account accepted at the request and refused only at its confirmation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.banklink.models import BankPaymentState, BillpayRequest
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.customers import services as customers
from gridvend.customers.models import CustomerStatus
from tests.billing.conftest import scene  # noqa: F401 (the fixture, shared)
from tests.billing.test_payments import A_BILL
from tests.gateways.billpay.test_scenarios import Billpay, billpay, owed  # noqa: F401
from tests.gateways.electrum.test_scenarios import envelope, new_id

pytestmark = pytest.mark.django_db


def _refund_requested(b: Billpay) -> str:
    payment_id, paid = b.pay("100000")
    b.advise("confirmations", "payments", payment_id)
    reference = paid.json()["slipData"]["issuerReference"]
    refund_id = new_id()
    body = {**envelope(refund_id), "issuerReference": reference, "refundReason": "wrong"}
    asked = b.post(f"refunds/{refund_id}", body)
    assert asked.status_code == 201, asked.content
    return refund_id


def test_a_refund_requested_a_week_ago_cannot_cancel_a_week_old_payment(
    billpay: Billpay,  # noqa: F811
) -> None:
    b = billpay
    refund_id = _refund_requested(b)
    # The payment and its refund request were made a week ago; the bank confirms the refund
    # only now. The promise of a cancel "before midnight" must not hold for a week.
    payment = BillPayment.objects.get()
    BillPayment.objects.update(business_date=payment.business_date - timedelta(days=7))
    request = BillpayRequest.objects.get(request_id__iexact=refund_id)
    BillpayRequest.objects.filter(pk=request.pk).update(
        created_at=request.created_at - timedelta(days=7)
    )
    _, confirmed = b.advise("confirmations", "refunds", refund_id)
    assert confirmed.status_code != 202, confirmed.content
    assert BillPayment.objects.get().status == PaymentStatus.RECEIVED
    assert owed(b) == A_BILL - 100000


def test_a_payment_to_a_closed_account_above_what_it_owes_is_refused_at_the_request(
    billpay: Billpay,  # noqa: F811
) -> None:
    b = billpay
    customer = b.scene.customer(b.scene.a)
    customers.set_customer_status(
        actor=b.scene.world.admin, customer=customer, status=CustomerStatus.CLOSED,
        reason="moved away",
    )  # fmt: skip
    # It owes A_BILL; the bank asks to take A_BILL + 500.00. The request is where Billpay
    # refuses (the partner collects the cash after a 201): a refusal only at the confirmation
    # leaves the bank holding money it was told it could take.
    _, asked = b.pay(str(A_BILL + 50000))
    assert asked.status_code == 400, asked.content
    assert asked.json()["errorType"] == "INVALID_AMOUNT"
    assert not BillpayRequest.objects.filter(state=BankPaymentState.PROVISIONAL).exists()
