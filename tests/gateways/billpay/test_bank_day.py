"""A Billpay bank that also has a fixed-format link: its Billpay payments are reconciled by the
day they are confirmed on, so none is asked for or taken on a day being reconciled or closed; a
refund approved before the bank's file still cancels its payment; a closed account's balance is
promised once; two refunds of one payment are never both approved."""

from __future__ import annotations

import pytest

from gridvend.banklink.models import BankLink, BankPaymentState, BillpayRequest
from gridvend.banklink.services import billpay as service
from gridvend.banklink.services import links, reconciliation
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.billing.services import cancel_payment
from gridvend.customers import services as customers
from gridvend.customers.models import CustomerStatus
from gridvend.kernel.errors import DomainError
from gridvend.ledger.services import today
from tests.billing.conftest import scene  # noqa: F401 (the fixture, shared)
from tests.billing.test_payments import A_BILL
from tests.gateways.billpay.test_scenarios import Billpay, billpay  # noqa: F401
from tests.gateways.electrum.test_scenarios import envelope, new_id

pytestmark = pytest.mark.django_db


def _link(b: Billpay) -> BankLink:
    return links.configure_link(
        actor=b.scene.world.admin, partner=b.partner, values=links.LinkSettings(agency_id="ABSA09")
    )


def _receive(b: Billpay, link: BankLink, rows: list[reconciliation.BankRow]) -> None:
    reconciliation.receive(
        actor=b.partner.service_user, link=link, bank_date=today(), rows=rows, source="upload"
    )


def _code(response: object) -> str:
    return str(response.json()["detailMessage"]["code"])  # type: ignore[attr-defined]


def test_a_payment_asked_for_before_the_days_file_is_refused_at_its_confirmation_after_it(
    billpay: Billpay,  # noqa: F811
) -> None:
    b = billpay
    link = _link(b)
    first_id, _ = b.pay("1000")
    b.advise("confirmations", "payments", first_id)
    late_id, late = b.pay("2000")
    assert late.status_code == 201
    _receive(b, link, [reconciliation.BankRow(first_id, b.account, 1000)])
    _, confirmed = b.advise("confirmations", "payments", late_id)
    assert confirmed.status_code == 400
    assert _code(confirmed) == "BANK_RECONCILIATION_DONE"
    assert BillPayment.objects.count() == 1
    assert BillpayRequest.objects.get(request_id=late_id).state == BankPaymentState.PROVISIONAL
    _, reversed_ = b.advise("reversals", "payments", late_id)
    assert reversed_.status_code == 202


def test_no_payment_is_asked_for_while_the_days_file_is_open(billpay: Billpay) -> None:  # noqa: F811
    b = billpay
    link = _link(b)
    _receive(b, link, [reconciliation.BankRow("NOT-OURS", b.account, 1000)])
    before = BillpayRequest.objects.count()
    _, asked = b.pay("1000")
    assert asked.status_code == 400
    assert _code(asked) == "BANK_RECONCILIATION_IN_PROGRESS"
    assert BillpayRequest.objects.count() == before


def test_a_bank_without_a_link_is_not_held_by_another_banks_day(billpay: Billpay) -> None:  # noqa: F811
    b = billpay
    payment_id, asked = b.pay("1000")
    assert asked.status_code == 201
    _, confirmed = b.advise("confirmations", "payments", payment_id)
    assert confirmed.status_code == 202


def test_a_refund_asked_for_while_the_day_is_open_is_refused_and_the_payment_kept(
    billpay: Billpay,  # noqa: F811
) -> None:
    b = billpay
    link = _link(b)
    payment_id, paid = b.pay("1000")
    b.advise("confirmations", "payments", payment_id)
    _receive(b, link, [])
    refund_id = new_id()
    body = {
        **envelope(refund_id),
        "issuerReference": paid.json()["slipData"]["issuerReference"],
        "refundReason": "wrong",
    }
    asked = b.post(f"refunds/{refund_id}", body)
    assert asked.status_code == 400
    assert _code(asked) == "BANK_RECONCILIATION_IN_PROGRESS"
    assert BillPayment.objects.get().status == PaymentStatus.RECEIVED


def test_a_back_office_cancel_still_waits_for_an_open_day(billpay: Billpay) -> None:  # noqa: F811
    b = billpay
    link = _link(b)
    payment_id, _ = b.pay("1000")
    b.advise("confirmations", "payments", payment_id)
    _receive(b, link, [])
    with pytest.raises(DomainError) as refused:
        cancel_payment(actor=b.scene.world.admin, payment=BillPayment.objects.get(), reason="x")
    assert refused.value.code == "BANK_RECONCILIATION_IN_PROGRESS"


def test_a_reversed_request_frees_a_closed_accounts_balance_for_the_next(
    billpay: Billpay,  # noqa: F811
) -> None:
    b = billpay
    customers.set_customer_status(
        actor=b.scene.world.admin, customer=b.scene.customer(b.scene.a),
        status=CustomerStatus.CLOSED, reason="moved away",
    )  # fmt: skip
    first_id, first = b.pay(str(A_BILL))
    assert first.status_code == 201
    _, second = b.pay("1")
    assert second.status_code == 400
    assert _code(second) == "PAYMENT_ABOVE_CLOSED_BALANCE"
    b.advise("reversals", "payments", first_id)
    again_id, again = b.pay(str(A_BILL))
    assert again.status_code == 201
    _, confirmed = b.advise("confirmations", "payments", again_id)
    assert confirmed.status_code == 202
    assert BillPayment.objects.get().amount_minor == A_BILL


def test_a_second_refund_of_one_payment_is_refused_while_the_first_is_pending(
    billpay: Billpay,  # noqa: F811
) -> None:
    b = billpay
    payment_id, paid = b.pay("1000")
    b.advise("confirmations", "payments", payment_id)
    reference = paid.json()["slipData"]["issuerReference"]
    service.request_refund(
        partner=b.partner, request_id=new_id(), issuer_reference=reference, reason="a"
    )
    with pytest.raises(DomainError) as refused:
        service.request_refund(
            partner=b.partner, request_id=new_id(), issuer_reference=reference, reason="b"
        )
    assert refused.value.code == "BILLPAY_REFUND_NOT_REFUNDABLE"
    assert BillpayRequest.objects.filter(refund_of__issuer_reference=reference).count() == 1
