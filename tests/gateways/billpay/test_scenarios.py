"""The Electrum Billpay v4 interface, scenario by scenario as its published test pack and rules
run them: real JSON bodies through Django's test client with the partner's real Basic
credentials, against real billing (the billing scene's accounts, billed last month).

Dual-message payments (provisional until confirmed; a reversal undoes them), duplicate id ->
400 DUPLICATE_RECORD, confirmation without request -> 400 UNABLE_TO_LOCATE_RECORD, reversal
after confirmation -> 400 ACCOUNT_ALREADY_SETTLED, refunds by the slip's issuerReference, four
thirdPartyIdentifiers, currencies as digits or (lenient mode) letters; nothing written on any
refusal."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client, override_settings

from gridvend.banklink.models import BankPaymentState, BillpayRequest
from gridvend.billing import selectors as billing_selectors
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.partners.credentials import issue_key
from gridvend.partners.models import Partner
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.billing.test_payments import A_BILL
from tests.gateways.electrum.test_scenarios import TIME, advice_body, envelope, new_id
from tests.partners.support import make_partner
from tests.world import snapshot as world_snapshot

pytestmark = pytest.mark.django_db

BASE = "/billpay/v4"


class Billpay:
    def __init__(self, s: Scene, partner: Partner) -> None:
        issued = issue_key(actor=s.world.admin, partner=partner, label="billpay")
        token = base64.b64encode(f"{partner.code}:{issued.secret}".encode()).decode()
        self.auth = f"Basic {token}"
        self.client = Client()
        self.scene = s
        self.partner = partner

    @property
    def account(self) -> str:
        return self.scene.customer(self.scene.a).account_number

    def post(self, path: str, body: Any, *, auth: bool = True) -> Any:
        headers = {"Authorization": self.auth} if auth else {}
        return self.client.post(
            f"{BASE}/{path}",
            data=json.dumps(body).encode(),
            content_type="application/json",
            headers=headers,
        )

    def pay(self, amount: Any = "100000", currency: str = "404", **extra: Any) -> tuple[str, Any]:
        payment_id = new_id()
        body = payment_body(payment_id, extra.pop("account", self.account), amount, currency)
        return payment_id, self.post(f"payments/{payment_id}", body)

    def advise(self, kind: str, path: str, request_id: str) -> tuple[str, Any]:
        advice_id = new_id()
        body = advice_body(advice_id, request_id, "CANCELLED" if kind == "reversals" else None)
        return advice_id, self.post(f"{path}/{request_id}/{kind}/{advice_id}", body)


def payment_body(ident: str, account: str, amount: Any, currency: str) -> dict[str, Any]:
    return {
        **envelope(ident),
        "accountRef": account,
        "amounts": {"requestAmount": {"amount": amount, "currency": currency}},
        "tenders": [
            {
                "accountType": "DEFAULT",
                "amount": {"amount": amount, "currency": currency},
                "tenderType": "CASH",
            }
        ],
    }


@pytest.fixture
def billpay(scene: Scene) -> Billpay:  # noqa: F811 (the shared fixture is its argument)
    scene.billed()
    return Billpay(scene, make_partner(scene.world, code="absa", float_major="0"))


def snapshot() -> dict[str, Any]:
    """Every row, but the key's last use (a refused call still used the key)."""
    rows = world_snapshot()
    rows.pop("partners.PartnerKey")
    return rows


def owed(b: Billpay) -> int:
    return billing_selectors.account_due(b.scene.finance, b.account).total_due_minor


def test_an_account_lookup_answers_what_the_account_owes(billpay: Billpay) -> None:
    lookup_id = new_id()
    sent = {**envelope(lookup_id), "accountRef": billpay.account}
    got = billpay.post(f"accountLookups/{lookup_id}", sent)
    assert got.status_code == 200, got.content
    body = got.json()
    assert body["id"] == lookup_id and body["time"] == TIME
    assert body["account"]["accountRef"] == billpay.account and body["account"]["dueDate"]
    assert body["amounts"]["balanceAmount"] == {"amount": A_BILL, "currency": "404"}
    assert body["customer"]["firstName"]


def test_an_unknown_account_is_an_unknown_customer_account(billpay: Billpay) -> None:
    lookup_id = new_id()
    got = billpay.post(f"accountLookups/{lookup_id}", {**envelope(lookup_id), "accountRef": "X1"})
    assert got.status_code == 400
    assert got.json()["errorType"] == "UNKNOWN_CUSTOMER_ACCOUNT"
    assert got.json()["requestType"] == "ACCOUNT_LOOKUP_REQUEST"


def test_a_payment_is_provisional_until_confirmed_and_a_repeated_confirmation_pays_once(
    billpay: Billpay,
) -> None:
    payment_id, got = billpay.pay()
    assert got.status_code == 201, got.content
    body = got.json()
    reference = body["slipData"]["issuerReference"]
    assert reference and body["id"] == payment_id and body["time"] == TIME
    ids = body["thirdPartyIdentifiers"]
    assert len(ids) == 4
    assert ids[0] == {"institutionId": "0002", "transactionIdentifier": "client-ref-1"}
    assert [i["institutionId"] for i in ids[2:]] == ["0003", "0004"]
    assert all(i["transactionIdentifier"] == reference for i in ids[2:])
    assert not BillPayment.objects.exists() and owed(billpay) == A_BILL  # nothing posted yet

    advice_id, confirmed = billpay.advise("confirmations", "payments", payment_id)
    assert confirmed.status_code == 202, confirmed.content
    assert confirmed.json()["id"] == advice_id and confirmed.json()["requestId"] == payment_id
    payment = BillPayment.objects.get()
    assert payment.amount_minor == 100000 and payment.source_reference == reference
    assert owed(billpay) == A_BILL - 100000
    again = billpay.post(
        f"payments/{payment_id}/confirmations/{advice_id}", advice_body(advice_id, payment_id)
    )
    assert again.status_code == 202 and BillPayment.objects.count() == 1


def test_a_reused_payment_id_is_a_duplicate_record_and_writes_nothing(billpay: Billpay) -> None:
    payment_id, got = billpay.pay()
    assert got.status_code == 201
    before = snapshot()
    again = billpay.post(
        f"payments/{payment_id}", payment_body(payment_id, billpay.account, "100000", "404")
    )
    assert again.status_code == 400
    assert again.json()["errorType"] == "DUPLICATE_RECORD"
    assert again.json()["id"] == payment_id and again.json()["originalId"] is None
    assert snapshot() == before


def test_a_confirmation_without_its_request_is_unable_to_locate_record(billpay: Billpay) -> None:
    missing = new_id()
    before = snapshot()
    advice_id, got = billpay.advise("confirmations", "payments", missing)
    assert got.status_code == 400
    assert got.json()["errorType"] == "UNABLE_TO_LOCATE_RECORD"
    assert got.json()["id"] == advice_id and got.json()["originalId"] == missing
    assert got.json()["requestType"] == "PAYMENT_CONFIRMATION"
    assert snapshot() == before


def test_a_reversal_after_confirmation_is_refused_account_already_settled(
    billpay: Billpay,
) -> None:
    payment_id, _ = billpay.pay()
    billpay.advise("confirmations", "payments", payment_id)
    before = snapshot()
    advice_id, got = billpay.advise("reversals", "payments", payment_id)
    assert got.status_code == 400
    assert got.json()["errorType"] == "ACCOUNT_ALREADY_SETTLED"
    assert got.json()["id"] == advice_id and got.json()["originalId"] == payment_id
    assert snapshot() == before
    assert BillPayment.objects.get().status == PaymentStatus.RECEIVED


def test_a_reversed_payment_posts_nothing_and_cannot_be_confirmed_after(billpay: Billpay) -> None:
    payment_id, _ = billpay.pay()
    _, reversed_ = billpay.advise("reversals", "payments", payment_id)
    assert reversed_.status_code == 202
    assert BillpayRequest.objects.get().state == BankPaymentState.REVERSED
    _, late = billpay.advise("confirmations", "payments", payment_id)
    assert late.status_code == 400 and late.json()["errorType"] == "ACCOUNT_ALREADY_SETTLED"
    assert not BillPayment.objects.exists() and owed(billpay) == A_BILL


def test_a_refund_by_issuer_reference_cancels_the_payment_once_confirmed(billpay: Billpay) -> None:
    payment_id, paid = billpay.pay()
    billpay.advise("confirmations", "payments", payment_id)
    reference = paid.json()["slipData"]["issuerReference"]
    refund_id = new_id()
    body = {**envelope(refund_id), "issuerReference": reference, "refundReason": "wrong account"}
    got = billpay.post(f"refunds/{refund_id}", body)
    assert got.status_code == 201, got.content
    assert got.json()["amounts"]["approvedAmount"]["amount"] == 100000
    assert BillPayment.objects.get().status == PaymentStatus.RECEIVED  # provisional refund
    _, confirmed = billpay.advise("confirmations", "refunds", refund_id)
    assert confirmed.status_code == 202, confirmed.content
    assert BillPayment.objects.get().status == PaymentStatus.CANCELLED
    assert owed(billpay) == A_BILL
    _, late = billpay.advise("reversals", "refunds", refund_id)
    assert late.status_code == 400 and late.json()["errorType"] == "ACCOUNT_ALREADY_SETTLED"
    # A second refund of the same payment finds nothing to refund.
    other = new_id()
    twice = billpay.post(f"refunds/{other}", {**envelope(other), "issuerReference": reference})
    assert twice.status_code == 400 and twice.json()["errorType"] == "UNABLE_TO_LOCATE_RECORD"


def test_a_refund_of_an_unknown_or_unconfirmed_payment_is_refused(billpay: Billpay) -> None:
    _, paid = billpay.pay()
    reference = paid.json()["slipData"]["issuerReference"]
    for named in (reference, "BPNOSUCHREF"):
        refund_id = new_id()
        body = {**envelope(refund_id), "issuerReference": named}
        got = billpay.post(f"refunds/{refund_id}", body)
        assert got.status_code == 400 and got.json()["errorType"] == "UNABLE_TO_LOCATE_RECORD"
    assert not BillpayRequest.objects.filter(kind="refund").exists()


def test_a_currency_as_letters_is_taken_in_lenient_mode_and_refused_in_strict_mode(
    billpay: Billpay,
) -> None:
    _, letters = billpay.pay(currency="KES")
    assert letters.status_code == 201, letters.content
    with override_settings(BILLPAY_LENIENT_CURRENCY=False):
        _, strict = billpay.pay(currency="KES")
        assert strict.status_code == 400 and strict.json()["errorType"] == "FORMAT_ERROR"
        _, digits = billpay.pay(currency="404")
        assert digits.status_code == 201
    _, other = billpay.pay(currency="710")
    assert other.status_code == 400 and other.json()["errorType"] == "FORMAT_ERROR"


@pytest.mark.parametrize("amount", ["0", "-5", "1.5", "99999999999999", True, {"x": 1}, "١٠٠"])
def test_a_hostile_amount_is_refused_and_writes_nothing(billpay: Billpay, amount: Any) -> None:
    before = snapshot()
    _, got = billpay.pay(amount=amount)
    assert got.status_code == 400
    assert got.json()["errorType"] in {"FORMAT_ERROR", "INVALID_AMOUNT"}
    assert snapshot() == before


def test_a_prepaid_only_account_cannot_be_paid_through_billpay(billpay: Billpay) -> None:
    prepaid = billpay.scene.customer(billpay.scene.prepaid).account_number
    _, got = billpay.pay(account=prepaid)
    assert got.status_code == 400 and got.json()["errorType"] == "UNKNOWN_CUSTOMER_ACCOUNT"


def test_without_credentials_every_operation_answers_401(billpay: Billpay) -> None:
    payment_id = new_id()
    got = billpay.post(
        f"payments/{payment_id}",
        payment_body(payment_id, billpay.account, "1", "404"),
        auth=False,
    )
    assert got.status_code == 401
    assert got["WWW-Authenticate"] == 'Basic realm="gridvend billpay"'


def test_a_refund_of_yesterdays_payment_is_refused_at_the_request_not_at_the_confirmation(
    billpay: Billpay,
) -> None:
    from datetime import timedelta

    b = billpay
    payment_id, paid = b.pay("100000")
    assert paid.status_code == 201, paid.content
    _advice, confirmed = b.advise("confirmations", "payments", payment_id)
    assert confirmed.status_code == 202
    reference = BillpayRequest.objects.get(request_id__iexact=payment_id).issuer_reference
    # A day passes: the payment can no longer be cancelled, so no refund may be promised.
    BillPayment.objects.update(business_date=BillPayment.objects.get().business_date - timedelta(1))
    refund_id = new_id()
    body = {**envelope(refund_id), "issuerReference": reference, "refundReason": "wrong account"}
    asked = b.post(f"refunds/{refund_id}", body)
    assert asked.status_code != 201, asked.content
    assert not BillpayRequest.objects.filter(request_id__iexact=refund_id).exists()
    assert BillPayment.objects.get().status == PaymentStatus.RECEIVED


def test_a_refund_accepted_before_midnight_and_confirmed_after_cancels_the_payment(
    billpay: Billpay,
) -> None:
    from datetime import timedelta

    b = billpay
    payment_id, paid = b.pay("100000")
    b.advise("confirmations", "payments", payment_id)
    reference = paid.json()["slipData"]["issuerReference"]
    refund_id = new_id()
    body = {**envelope(refund_id), "issuerReference": reference, "refundReason": "wrong account"}
    asked = b.post(f"refunds/{refund_id}", body)
    assert asked.status_code == 201, asked.content
    # Midnight passes between the accepted refund and its confirmation: the payment and the
    # refund were taken yesterday (moved back one day), the confirmation comes today.
    payment = BillPayment.objects.get()
    BillPayment.objects.update(business_date=payment.business_date - timedelta(1))
    BillpayRequest.objects.filter(request_id__iexact=refund_id).update(
        created_at=BillpayRequest.objects.get(request_id__iexact=refund_id).created_at
        - timedelta(days=1)
    )
    # Within the grace a confirmation is given (here widened past the day the test moved).
    with override_settings(BILLPAY_REFUND_GRACE_SECONDS=2 * 24 * 3600):
        _, confirmed = b.advise("confirmations", "refunds", refund_id)
    assert confirmed.status_code == 202, confirmed.content
    assert BillPayment.objects.get().status == PaymentStatus.CANCELLED
    assert owed(b) == A_BILL
    # A cancel nobody promised is still judged today: a later cashier cancel would be refused.
    from gridvend.billing import services as billing_services
    from gridvend.kernel.errors import DomainError

    second = b.pay("50000")[0]
    b.advise("confirmations", "payments", second)
    other = BillPayment.objects.get(status=PaymentStatus.RECEIVED)
    BillPayment.objects.filter(pk=other.pk).update(business_date=other.business_date - timedelta(1))
    with pytest.raises(DomainError) as caught:
        billing_services.cancel_payment(
            actor=b.scene.finance, payment=BillPayment.objects.get(pk=other.pk), reason="late"
        )
    assert caught.value.code == "PAYMENT_CANCEL_TOO_LATE"
