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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_refund_requests_for_one_payment_at_once_are_not_both_approved(
    billpay: Billpay,  # noqa: F811
) -> None:
    """Defect: request_refund (banklink/services/billpay.py) checks "no refund of this payment
    yet" (paid.refunds.exclude(REVERSED).exists()) without locking the payment's request row;
    two refund requests under two ids at once both pass and both are answered 201. Under
    Billpay's rules a 201 tells the partner to pay the customer back: it does so twice, and
    only one confirmation can cancel the payment (the second is refused
    PAYMENT_ALREADY_CANCELLED). Fix: lock the refunded request (select_for_update) before the
    check, or a partial unique index on refund_of for non-reversed refunds. Severity: medium
    (a race; real threads on PostgreSQL, a few rounds)."""
    from gridvend.banklink.services import billpay as service
    from gridvend.kernel.errors import DomainError
    from tests.threads import run_threads

    b = billpay
    for _round in range(4):
        payment_id, paid = b.pay("1000")
        assert paid.status_code == 201, paid.content
        _, confirmed = b.advise("confirmations", "payments", payment_id)
        assert confirmed.status_code == 202
        reference = paid.json()["slipData"]["issuerReference"]

        def refund(i: int, reference: str = reference) -> str:
            try:
                service.request_refund(
                    partner=b.partner,
                    request_id=f"{reference}-refund-{i}",
                    issuer_reference=reference,
                    reason="customer asked",
                )
            except DomainError as exc:
                return str(exc.code)
            return "approved"

        results, errors = run_threads(2, refund)
        assert errors == []
        assert results.count("approved") <= 1, (
            f"two refunds of {reference} approved at once: {results}"
        )
