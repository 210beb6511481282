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


def test_a_billpay_payment_confirmed_after_its_day_is_closed_is_not_left_unreconciled(
    billpay: Billpay,  # noqa: F811
) -> None:
    """Defect: docs/bank-link.md says a Billpay bank's day reconciles as the fixed-format
    link's does (its payments carry the confirmation's business day as bank date), and that
    while a day is open or once it is closed the bank's pays for that date are refused.
    confirm_advice (banklink/services/billpay.py) takes the payment without the link's
    _day_open check: a confirmation after the day's file was received lands on a closed day,
    is in no reconciliation, is never marked reconciled (refundable, unlike its neighbours),
    and the day cannot be sent again (BANK_RECONCILIATION_DONE). The day "reconciled clean"
    while our books hold a bank payment the bank never confirmed in a file. Fix: apply the
    same day check at the confirmation (or the request) when the partner has a link.
    Severity: medium."""
    from gridvend.banklink.models import ReconciliationStatus
    from gridvend.banklink.services import links, reconciliation
    from gridvend.ledger.services import today

    b = billpay
    link = links.configure_link(
        actor=b.scene.world.admin,
        partner=b.partner,
        values=links.LinkSettings(agency_id="ABSA01"),
    )
    first_id, _first = b.pay("1000")
    b.advise("confirmations", "payments", first_id)
    recon = reconciliation.receive(
        actor=b.partner.service_user,
        link=link,
        bank_date=today(),
        rows=[reconciliation.BankRow(first_id, b.account, 1000)],
        source="upload",
    )
    assert recon.status == ReconciliationStatus.CLOSED
    late_id, late = b.pay("2000")
    if late.status_code == 400:
        return  # refused at the request, before the bank takes the cash: the defence holds
    assert late.status_code == 201
    _, confirmed = b.advise("confirmations", "payments", late_id)
    if confirmed.status_code == 400:
        return  # refused on a closed day: the defence holds
    payment = BillPayment.objects.get(bank_facts__bank_serial=late_id)
    assert payment.reconciled_at is not None, (
        f"payment {late_id} taken for {today()} after that day was closed: in no reconciliation"
    )


def test_a_refund_approved_before_the_banks_file_can_still_be_confirmed(
    billpay: Billpay,  # noqa: F811
) -> None:
    """Defect (opened by the third review's guard, 5ef1355): a Billpay refund is approved
    (201: the partner pays the customer back) after require_cancellable. The bank's file for
    the day then arrives without the refunded payment (it refunded it): the day stays open
    with a 'missing on the bank's side' line. The refund's confirmation is now refused
    BANK_RECONCILIATION_IN_PROGRESS (billing.guards, from every channel), and once finance
    resolves the line and closes the day the payment is reconciled and the confirmation is
    refused PAYMENT_ALREADY_RECONCILED. A promise we gave can never be carried out: the
    customer holds the refund and our books keep the payment. Fix: a confirmation of a refund
    promised before the file carries out (promised_at judged for the guard too), or the day
    cannot close while a refund of one of its payments is pending. Severity: medium."""
    from gridvend.banklink.models import LineKind
    from gridvend.banklink.services import links, reconciliation
    from gridvend.billing.models import PaymentStatus
    from gridvend.ledger.services import today
    from tests.gateways.electrum.test_scenarios import envelope, new_id

    b = billpay
    link = links.configure_link(
        actor=b.scene.world.admin, partner=b.partner, values=links.LinkSettings(agency_id="ABSA02")
    )
    payment_id, paid = b.pay("100000")
    b.advise("confirmations", "payments", payment_id)
    reference = paid.json()["slipData"]["issuerReference"]
    refund_id = new_id()
    body = {**envelope(refund_id), "issuerReference": reference, "refundReason": "wrong"}
    asked = b.post(f"refunds/{refund_id}", body)
    assert asked.status_code == 201, asked.content  # promised: the bank pays the customer back
    recon = reconciliation.receive(
        actor=b.partner.service_user, link=link, bank_date=today(), rows=[], source="upload"
    )
    [line] = recon.lines.all()
    assert line.kind == LineKind.MISSING_BANK
    _, during = b.advise("confirmations", "refunds", refund_id)
    reconciliation.resolve_discrepancy(
        actor=b.scene.world.admin, line=line, reason="refunded by the bank"
    )
    reconciliation.close(actor=b.scene.world.admin, reconciliation=recon)
    _, after = b.advise("confirmations", "refunds", refund_id)
    payment = BillPayment.objects.get(bank_facts__bank_serial=payment_id)
    assert payment.status == PaymentStatus.CANCELLED, (
        f"a refund approved with a 201 can never be confirmed: {during.status_code} "
        f"{during.content[:160]!r} while the day is open, then {after.status_code} "
        f"{after.content[:160]!r} once it is closed"
    )
