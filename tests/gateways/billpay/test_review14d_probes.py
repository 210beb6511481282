"""Fourth (final) review of issue 14 (Billpay), kept as probes: the closed-account rule the
third review moved to the request, walked with two requests."""

from __future__ import annotations

import pytest

from gridvend.banklink.models import BankPaymentState, BillpayRequest
from gridvend.billing.models import BillPayment
from gridvend.customers import services as customers
from gridvend.customers.models import CustomerStatus
from tests.billing.conftest import scene  # noqa: F401 (the fixture, shared)
from tests.billing.test_payments import A_BILL
from tests.gateways.billpay.test_scenarios import Billpay, billpay  # noqa: F401

pytestmark = pytest.mark.django_db


def _closed(b: Billpay) -> None:
    customer = b.scene.customer(b.scene.a)
    customers.set_customer_status(
        actor=b.scene.world.admin, customer=customer, status=CustomerStatus.CLOSED,
        reason="moved away",
    )  # fmt: skip


def test_two_requests_for_a_closed_accounts_whole_balance_are_not_both_promised(
    billpay: Billpay,  # noqa: F811
) -> None:
    """Defect: request_payment (banklink/services/billpay.py) checks a closed account's
    request against what its bills owe now, ignoring provisional requests already promised.
    Two tellers (or one retry under a new id) ask for the whole A_BILL: both get 201, the bank
    collects the cash twice, and the second confirmation is refused (ACCOUNT_CLOSED at
    take_payment) — the refusal at the confirmation the third review's fix meant to end.
    Fix: count the open provisional payment requests of the account against what it owes
    (under the customer lock). Severity: medium (cash collected that we refuse)."""
    b = billpay
    _closed(b)
    first_id, first = b.pay(str(A_BILL))
    assert first.status_code == 201, first.content
    second_id, second = b.pay(str(A_BILL))
    if second.status_code == 400:
        return  # refused at the request: the bank never takes the cash
    assert second.status_code == 201
    _, confirmed = b.advise("confirmations", "payments", first_id)
    assert confirmed.status_code == 202, confirmed.content
    _, refused = b.advise("confirmations", "payments", second_id)
    assert refused.status_code == 202, (
        "a payment promised with a 201 is refused at its confirmation: "
        f"{refused.status_code} {refused.content[:200]!r}"
    )
    assert BillPayment.objects.count() == 2
    assert not BillpayRequest.objects.filter(state=BankPaymentState.PROVISIONAL).exists()
