"""Review 14 probe: a Billpay refund the books can no longer carry out is approved (201) and then
its confirmation refused, leaving the partner with a refund it paid out and we never made."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.banklink.models import BankPaymentState, BillpayRequest
from gridvend.billing.models import BillPayment, PaymentStatus
from tests.billing.conftest import scene  # noqa: F401
from tests.gateways.billpay.test_scenarios import Billpay, billpay  # noqa: F401
from tests.gateways.electrum.test_scenarios import envelope, new_id

pytestmark = pytest.mark.django_db


def test_a_refund_of_yesterdays_payment_is_refused_at_the_request_not_at_the_confirmation(
    billpay: Billpay,  # noqa: F811
) -> None:
    b = billpay
    payment_id, paid = b.pay("100000")
    assert paid.status_code == 201, paid.content
    _advice, confirmed = b.advise("confirmations", "payments", payment_id)
    assert confirmed.status_code == 202
    reference = BillpayRequest.objects.get(request_id__iexact=payment_id).issuer_reference
    # A day passes.
    BillPayment.objects.update(business_date=BillPayment.objects.get().business_date - timedelta(1))
    refund_id = new_id()
    body = {**envelope(refund_id), "issuerReference": reference, "refundReason": "wrong account"}
    asked = b.post(f"refunds/{refund_id}", body)
    if asked.status_code == 201:
        _advice, done = b.advise("confirmations", "refunds", refund_id)
        state = BillpayRequest.objects.get(request_id__iexact=refund_id).state
        assert BillPayment.objects.get().status == PaymentStatus.RECEIVED
        # Approved at the request, then refused at the confirmation: the partner has already
        # handed the money back to the customer.
        assert done.status_code == 202, (done.status_code, done.content[:300], state)
        assert state == BankPaymentState.CONFIRMED
