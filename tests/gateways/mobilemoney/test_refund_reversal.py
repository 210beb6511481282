"""Refunds carried out: an approved refund is reversed through the provider (Daraja's
Transaction Reversal API, against the sandbox over real HTTP); its result callback, behind
the secret path and the address allow-list, refunds the payment and releases its suspense;
a failed reversal returns the payment to suspense, visibly; a paybill that cannot reverse
waits for customer care to record the pay-back by hand."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from gridvend.ledger.selectors import account_balance
from gridvend.mobilemoney import services
from gridvend.mobilemoney.errors import MobileRefundNotByHand
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileRefundRequest,
    PaymentState,
    RawCallback,
    ReversalState,
)
from tests.gateways.mobilemoney.conftest import PHONE, Paybill

pytestmark = pytest.mark.django_db

SUSPENSE = "mobile-suspense:mpesa"


def can_reverse(paybill: Paybill) -> None:
    provider = paybill.provider
    values = services.ProviderSettings(
        **{
            name: getattr(provider, name)
            for name in services.ProviderSettings.__dataclass_fields__
            if name not in ("initiator_env", "security_credential_env")
        },
        initiator_env="GRIDVEND_TEST_MPESA_INITIATOR",
        security_credential_env="GRIDVEND_TEST_MPESA_CREDENTIAL",
    )
    paybill.provider = services.configure_provider(
        actor=paybill.world.admin, partner=paybill.partner, values=values
    )


def suspense_payment(paybill: Paybill, amount: int = 350) -> MobilePayment:
    """A real paybill payment (the sandbox books it) to an account that names nothing."""
    body = paybill.daraja.pay_bill(phone=PHONE, account="NOBODY1", amount=amount)
    paybill.deliver_held()
    payment = MobilePayment.objects.get(trans_id=body["TransID"])
    assert payment.state == PaymentState.SUSPENSE
    return payment


def approved(paybill: Paybill, payment: MobilePayment, **extra: Any) -> MobilePayment:
    asked = services.request_payment_refund(
        actor=paybill.care, payment=payment, reason="paid the wrong paybill"
    )
    return services.approve_payment_refund(actor=paybill.finance, request=asked, **extra)


def test_an_approved_refund_is_reversed_by_the_provider_and_released_on_its_result(
    paybill: Paybill,
) -> None:
    can_reverse(paybill)
    payment = suspense_payment(paybill)
    assert account_balance(SUSPENSE) == -35000
    sent = approved(paybill, payment)
    assert sent.state == PaymentState.REFUNDING
    refund = MobileRefundRequest.objects.get()
    assert refund.reversal_state == ReversalState.REQUESTED
    assert (refund.conversation_id or "").startswith("AG_")
    # Nothing on the books until the provider says it is done.
    assert account_balance(SUSPENSE) == -35000 and sent.release_entry_id is None
    (reply,) = paybill.deliver_held()
    assert reply.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    payment.refresh_from_db()
    refund.refresh_from_db()
    assert payment.state == PaymentState.REFUNDED
    assert refund.reversal_state == ReversalState.COMPLETED
    assert refund.refund_reference == paybill.daraja.reversed[payment.trans_id]
    assert account_balance(SUSPENSE) == 0
    assert RawCallback.objects.filter(kind="reversal", payment=payment).exists()
    # The same result again changes nothing.
    reversal_body = {"Result": {"ResultCode": 0, "ConversationID": refund.conversation_id}}
    paybill.post("reversal-result", reversal_body)
    assert account_balance(SUSPENSE) == 0
    call_command("ledger", "reconcile")


@pytest.mark.parametrize("failure", ["R000002", "timeout"])
def test_a_failed_reversal_returns_the_payment_to_suspense_visibly(
    paybill: Paybill, failure: str
) -> None:
    can_reverse(paybill)
    payment = suspense_payment(paybill, 200)
    paybill.daraja.fail_next_reversal(failure)
    approved(paybill, payment)
    paybill.deliver_held()
    payment.refresh_from_db()
    refund = MobileRefundRequest.objects.get()
    assert payment.state == PaymentState.SUSPENSE
    assert payment.suspense_code == "MOBILE_REVERSAL_FAILED"
    assert refund.reversal_state == ReversalState.FAILED
    assert refund.result_code == ("R000002" if failure == "R000002" else "1")
    assert account_balance(SUSPENSE) == -20000  # still owed, still on the books
    page = paybill.client
    page.force_login(paybill.care)
    shown = page.get(f"/mobile-payments/{payment.pk}/").content.decode()
    assert "MOBILE_REVERSAL_FAILED" in shown and "Reversal failed" in shown
    call_command("ledger", "reconcile")
    # Care may ask again: this time it goes through.
    approved(paybill, payment)
    paybill.deliver_held()
    payment.refresh_from_db()
    assert payment.state == PaymentState.REFUNDED and account_balance(SUSPENSE) == 0


def test_a_provider_that_refuses_at_once_leaves_the_payment_in_suspense(
    paybill: Paybill,
) -> None:
    can_reverse(paybill)
    payment = suspense_payment(paybill, 120)
    paybill.daraja.initiator = "someone else"  # the initiator is not the one Daraja knows
    back = approved(paybill, payment)
    assert back.state == PaymentState.SUSPENSE
    assert MobileRefundRequest.objects.get().result_code == "MOBILE_PROVIDER_REFUSED"
    assert account_balance(SUSPENSE) == -12000


def test_without_an_initiator_care_records_the_pay_back_by_hand(paybill: Paybill) -> None:
    payment = suspense_payment(paybill, 90)
    waiting = approved(paybill, payment)
    assert waiting.state == PaymentState.REFUND_MANUAL
    assert paybill.daraja.reversed == {}
    assert account_balance(SUSPENSE) == -9000
    with pytest.raises(MobileRefundNotByHand):
        services.record_manual_refund(
            actor=paybill.care,
            payment=MobilePayment.objects.create(
                provider=paybill.provider,
                trans_id="RNOTMANUAL",
                request_id="RNOTMANUAL",
                source="confirmation",
                currency="KES",
                business_date=payment.business_date,
                state=PaymentState.SUSPENSE,
            ),
            reference="X",
        )
    done = services.record_manual_refund(
        actor=paybill.care, payment=payment, reference="B2C4455", note="sent from the portal"
    )
    assert done.state == PaymentState.REFUNDED and account_balance(SUSPENSE) == 0
    assert MobileRefundRequest.objects.get().refund_reference == "B2C4455"


def test_reversal_callbacks_need_the_secret_and_an_allowed_address(paybill: Paybill) -> None:
    can_reverse(paybill)
    payment = suspense_payment(paybill, 60)
    approved(paybill, payment)
    ((url, body),) = paybill.daraja.take_held()
    assert "/reversal/result" in url
    from urllib.parse import urlsplit

    path = urlsplit(url).path
    wrong_secret = path.replace(path.split("/")[3], "0" * 32)
    refused = paybill.client.post(
        wrong_secret, data=body, content_type="application/json", REMOTE_ADDR="127.0.0.1"
    )
    assert refused.status_code == 403
    elsewhere = paybill.client.post(
        path, data=body, content_type="application/json", REMOTE_ADDR="203.0.113.9"
    )
    assert elsewhere.status_code == 403
    unreadable = paybill.client.post(
        path, data=b"{", content_type="application/json", REMOTE_ADDR="127.0.0.1"
    )
    assert unreadable.status_code == 200
    payment.refresh_from_db()
    assert payment.state == PaymentState.REFUNDING and account_balance(SUSPENSE) == -6000


def test_a_reversal_whose_result_never_comes_is_recorded_by_customer_care(
    paybill: Paybill,
) -> None:
    """The reversal was sent and no result ever comes (the reply and the callback lost): care
    finds it in the provider's portal and records its receipt; the payment is refunded, the
    suspense released, and the result arriving after all changes nothing more."""
    can_reverse(paybill)
    payment = suspense_payment(paybill, 200)
    sent = approved(paybill, payment)
    assert sent.state == PaymentState.REFUNDING
    ((_url, lost),) = paybill.daraja.take_held()  # the result never reaches us
    receipt = paybill.daraja.reversed[payment.trans_id]
    done = services.record_manual_refund(
        actor=paybill.care, payment=payment, reference=receipt, note="seen in the portal"
    )
    assert done.state == PaymentState.REFUNDED
    assert account_balance(SUSPENSE) == 0
    refund = MobileRefundRequest.objects.get()
    assert (refund.reversal_state, refund.refund_reference) == (ReversalState.FAILED, receipt)
    assert paybill.post("reversal-result", lost).status_code == 200  # it comes after all
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.reversal_state == ReversalState.COMPLETED
    assert payment.state == PaymentState.REFUNDED
    assert account_balance(SUSPENSE) == 0
    from gridvend.mobilemoney.services.suspense import suspense_findings

    assert suspense_findings() == []


def test_a_late_reversal_of_a_payment_care_sold_meanwhile_is_a_finding(paybill: Paybill) -> None:
    """The reversal is given up (a queue time-out), care sells the payment to a meter, then
    the provider reverses it after all: the customer has both; the books say so."""
    from gridvend.mobilemoney.services.suspense import suspense_findings

    can_reverse(paybill)
    meter = paybill.world.add_meter()
    payment = suspense_payment(paybill, 300)
    paybill.daraja.fail_next_reversal("timeout")
    approved(paybill, payment)
    paybill.deliver_held()
    first = MobileRefundRequest.objects.get()
    assert first.reversal_state == ReversalState.FAILED
    sold = services.resolve_by_sale(
        actor=paybill.care, payment=payment, meter_number=meter.number, note="right meter"
    )
    assert sold.state == PaymentState.SOLD
    late = {
        "Result": {
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": first.originator_conversation_id,
            "ConversationID": first.conversation_id,
            "TransactionID": "RLATE00002",
        }
    }
    assert paybill.post("reversal-result", late).status_code == 200
    payment.refresh_from_db()
    assert payment.state == PaymentState.SOLD
    (finding,) = suspense_findings()
    assert "paid out twice" in finding and "RLATE00002" in finding


def test_a_reversal_that_cannot_be_sent_for_want_of_a_credential_is_a_refusal(
    paybill: Paybill, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter cannot even build the request (a credential variable unset: the real
    Daraja adapter, not the sandbox's defaults): nothing left, so the payment is back in
    suspense with MOBILE_REVERSAL_FAILED, not ``refunding`` for ever."""
    from gridvend.gateways.mobilemoney import sandbox
    from gridvend.gateways.mobilemoney.daraja import DarajaProvider

    can_reverse(paybill)
    payment = suspense_payment(paybill, 250)
    monkeypatch.setattr(sandbox.SandboxProvider, "_env", DarajaProvider._env)
    monkeypatch.delenv("GRIDVEND_TEST_MPESA_INITIATOR", raising=False)
    back = approved(paybill, payment)
    assert (back.state, back.suspense_code) == (PaymentState.SUSPENSE, "MOBILE_REVERSAL_FAILED")
    refund = MobileRefundRequest.objects.get()
    assert refund.reversal_state == ReversalState.FAILED
    assert refund.result_code == "MOBILE_PROVIDER_UNAVAILABLE"
    assert paybill.daraja.reversed == {}
