"""Second review of issue 15 (mobile money), aimed at the fixes of 1cb07b8 (late and lost
reversals, confirmations going the back-fill's way, whole meter numbers on STK pushes) and at
what the first review left alone. Each ``test_probe_`` fails while the defect it names is real;
``test_holds_`` pins behaviour that was checked and holds. Against the sandbox Daraja over
real HTTP; the races run on PostgreSQL with real threads."""

from __future__ import annotations

import contextlib
import json
import socket
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

import tests.world
from gridvend.kernel.errors import DomainError
from gridvend.ledger.selectors import account_balance
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileRefundRequest,
    PaymentState,
    ReversalState,
    StkPush,
    StkState,
)
from gridvend.sts.identity import MeterNumber
from gridvend.vending.models import Sale
from tests.gateways.mobilemoney.conftest import PHONE, SAFARICOM, Paybill, confirmation
from tests.gateways.mobilemoney.test_refund_reversal import can_reverse, suspense_payment
from tests.threads import run_threads

SUSPENSE = "mobile-suspense:mpesa"
NAIROBI = ZoneInfo("Africa/Nairobi")


def _send(paybill: Paybill, url: str, body: dict[str, Any], client: Client | None = None) -> Any:
    """One callback the sandbox holds, sent as Safaricom sends it."""
    return (client or paybill.client).post(
        urlsplit(url).path,
        data=json.dumps(body),
        content_type="application/json",
        REMOTE_ADDR=SAFARICOM,
    )


def _nairobi_now() -> str:
    return timezone.now().astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def _closed_port_url() -> str:
    """An address where nothing listens: a connection to it is refused at once."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return f"http://127.0.0.1:{port}"


def _reconfigure(paybill: Paybill, **changes: Any) -> None:
    provider = paybill.provider
    values = services.ProviderSettings(
        **{
            name: changes.get(name, getattr(provider, name))
            for name in services.ProviderSettings.__dataclass_fields__
        }
    )
    paybill.provider = services.configure_provider(
        actor=paybill.world.admin, partner=paybill.partner, values=values
    )


def _thirteen_digit_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Meters the test world adds get 13-digit numbers (4-digit manufacturer code)."""
    monkeypatch.setattr(
        tests.world,
        "meter_number",
        lambda serial, mfr="04": str(MeterNumber.from_parts("0104", serial)),
    )


# Findings --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_probe_a_late_reversal_while_a_second_refund_waits_leaves_the_payment_sellable(
    paybill: Paybill,
) -> None:
    """Severity: high (the customer's money goes back and is sold to a meter as well).

    The first reversal ends in a queue time-out (refund FAILED, payment back in suspense); care
    asks for the refund again (payment ``refund_pending``). Then the provider's late success for
    the FIRST reversal arrives: ``_late_reversal`` only refunds a payment in suspense or
    refunding, so it marks the refund completed, writes ``paid_twice: True`` in the audit (no
    money was paid twice) and leaves the payment ``refund_pending``. Finance approves the second
    request, the provider refuses it ("already reversed", R000001) and ``_reversal_failed``
    puts the payment back in SUSPENSE, where care may sell it: the money has left and would be
    sold too. Cause: payments.py ``_late_reversal`` (``paid_twice = payment.state not in
    (SUSPENSE, REFUNDING)``). Fix: treat ``refund_pending`` (and ``refund_manual``) as not yet
    paid back: refund the payment and close the waiting request."""
    can_reverse(paybill)
    payment = suspense_payment(paybill, 350)
    paybill.daraja.fail_next_reversal("timeout")
    first = services.request_payment_refund(
        actor=paybill.care, payment=payment, reason="paid the wrong paybill"
    )
    services.approve_payment_refund(actor=paybill.finance, request=first)
    paybill.deliver_held()  # the queue time-out
    payment.refresh_from_db()
    first.refresh_from_db()
    assert payment.state == PaymentState.SUSPENSE
    assert first.reversal_state == ReversalState.FAILED
    # The provider did reverse it after all (its books now say so) ...
    reversal_receipt = "RLATE00001"
    paybill.daraja.reversed[payment.trans_id] = reversal_receipt
    # ... while care, seeing "Reversal failed", asks again.
    second = services.request_payment_refund(
        actor=paybill.care, payment=payment, reason="asked again after the failure"
    )
    late = {
        "Result": {
            "ResultType": 0,
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": first.originator_conversation_id,
            "ConversationID": first.conversation_id,
            "TransactionID": reversal_receipt,
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "OriginalTransactionID", "Value": payment.trans_id},
                ]
            },
        }
    }
    assert paybill.post("reversal-result", late).status_code == 200
    first.refresh_from_db()
    assert first.reversal_state == ReversalState.COMPLETED
    # A fixed version may refuse this approval: the refund is already done.
    with contextlib.suppress(DomainError):
        services.approve_payment_refund(actor=paybill.finance, request=second)
    paybill.deliver_held()  # the provider's answer to the second reversal: already reversed
    payment.refresh_from_db()
    assert payment.state == PaymentState.REFUNDED, (
        f"the provider reversed {payment.trans_id}, yet the payment is {payment.state} "
        f"({payment.suspense_code}): care can sell it to a meter"
    )
    assert account_balance(SUSPENSE) == 0


@pytest.mark.django_db
def test_probe_a_reversal_that_never_left_does_not_strand_the_payment(paybill: Paybill) -> None:
    """Severity: high (a refund stuck for ever; nobody can act on the payment any more).

    Since 1cb07b8 every ``MobileProviderUnavailable`` from ``reverse()`` leaves the payment
    ``refunding`` with result ``unknown``, "the provider may have reversed it". But the
    adapter raises it also when nothing was sent: the connection refused, the OAuth token
    not obtained (``_access_token`` runs before the reversal is posted), a credential variable
    not set. No result will ever come, no job asks again, and in ``refunding`` care can neither
    ask again (not in suspense) nor record a pay-back (not ``refund_manual``): the customer is
    never refunded and the suspense never cleared without a database edit. Cause:
    payments.py ``_send_reversal`` (``except MobileProviderUnavailable``) and daraja.py
    ``_send`` (one error for "not sent" and "no reply"). Fix: tell a failure before sending
    (connection refused, OAuth, configuration) from a lost reply and treat the first as a
    refusal (back to suspense, MOBILE_REVERSAL_FAILED); and give a stranded ``refunding``
    payment a way out (Transaction Status query, or care recording the outcome)."""
    can_reverse(paybill)
    payment = suspense_payment(paybill, 250)
    asked = services.request_payment_refund(
        actor=paybill.care, payment=payment, reason="paid the wrong paybill"
    )
    sandbox = paybill.provider.base_url
    _reconfigure(paybill, base_url=_closed_port_url())  # Daraja is down: nothing gets through
    services.approve_payment_refund(actor=paybill.finance, request=asked)
    _reconfigure(paybill, base_url=sandbox)  # and back up
    assert paybill.daraja.reversed == {}, "the provider never heard of this reversal"
    paybill.deliver_held()
    payment.refresh_from_db()
    refund = MobileRefundRequest.objects.get()
    assert payment.state in (PaymentState.SUSPENSE, PaymentState.REFUND_MANUAL), (
        f"nothing was sent, yet the payment is {payment.state} and the refund "
        f"{refund.reversal_state} ({refund.result_code}: {refund.result_desc}) for ever"
    )


@pytest.mark.django_db
def test_probe_stk_money_for_a_13_digit_meter_found_after_the_push_gave_up_is_sold(
    paybill: Paybill, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Severity: medium (customer paid, was told "the token comes by SMS", gets none until
    customer care acts).

    The status query job closes a push as *timed out* after five "still being processed"
    answers; the money can still arrive (M-Pesa was slow). The back-fill then finds it, but
    only waiting or receipt-less paid pushes are candidates, so it becomes a paybill payment
    whose account is the prompt's 12-character AccountReference: for an 11-digit meter that
    is the whole number and it sells; for a 13-digit meter it names no meter and the money goes
    to suspense (MOBILE_ACCOUNT_UNKNOWN). The 1cb07b8 fix (``StkPush.meter_number``) is used
    only when the row is tied to a push. Cause: books.py ``_stk_candidates`` (states) and
    payments.py ``meter_for`` (a 12-digit reference). Fix: let a timed-out push be tied to
    money found in its window, and/or read a 12-digit reference as the 13-digit meter it
    starts (the 13th digit is the check digit, so the prefix names one meter)."""
    _thirteen_digit_numbers(monkeypatch)
    meter = paybill.world.add_meter()
    assert len(meter.number) == 13
    paybill.daraja.answer_next(PHONE, "silent")  # paid; the callback is lost
    push = services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="ussd",
    )
    # As query_late_pushes leaves it after MAX_QUERY_ATTEMPTS answers "being processed".
    StkPush.objects.filter(pk=push.pk).update(
        state=StkState.TIMED_OUT, result_code="500.001.1001", answered_at=timezone.now()
    )
    result = services.backfill(provider=paybill.provider)
    assert result.pulled == 1
    payment = MobilePayment.objects.get()
    assert payment.trans_id == paybill.daraja.pushes[push.checkout_request_id or ""]["receipt"]
    assert (payment.state, payment.suspense_code) == (PaymentState.SOLD, ""), (
        f"the money for meter {meter.number} is {payment.state} ({payment.suspense_code}), "
        f"account {payment.account_ref!r}"
    )
    assert Sale.objects.filter(meter=meter).count() == 1


@pytest.mark.django_db
def test_probe_the_stk_callback_settles_money_held_as_ambiguous(paybill: Paybill) -> None:
    """Severity: medium (paid, told "token by SMS", none comes; care must do by hand what the
    provider already said).

    Two prompts for the same meter, amount and phone (two USSD sessions, a double tap). The C2B
    confirmation of the first one's money arrives before its STK callback (they race on
    Daraja's side): since 1cb07b8 it goes the back-fill's way, two pushes fit, and the payment
    is held in suspense as MOBILE_STK_MATCH_AMBIGUOUS. A second later the STK callback names
    the push AND the receipt: the ambiguity is gone, but ``apply_result`` finds the held
    payment by its receipt, ``settle`` leaves a suspense payment alone, and the push is marked
    paid with its money still in suspense. Cause: stk.py ``apply_result`` (the known payment
    returned as it stands). Fix: when the push's own callback carries the receipt of a payment
    held as ambiguous, release it and sell it for that push."""
    meter = paybill.world.add_meter()
    pushes = [
        services.request_stk_push(
            actor=paybill.world.admin,
            provider=paybill.provider,
            phone="0712 345 126",
            meter_number=meter.number,
            amount=paybill.world.money("300"),
            channel="ussd",
        )
        for _ in range(2)
    ]
    callbacks = {
        body["Body"]["stkCallback"]["CheckoutRequestID"]: (url, body)
        for url, body in (paybill.daraja.take_held())
    }
    first = pushes[0]
    receipt = paybill.daraja.pushes[first.checkout_request_id or ""]["receipt"]
    body = confirmation(receipt, meter.number, amount="300.00", TransTime=_nairobi_now())
    assert paybill.post("c2b-confirmation", body).json()["ResultCode"] == 0
    held = MobilePayment.objects.get(trans_id=receipt)
    assert held.suspense_code == "MOBILE_STK_MATCH_AMBIGUOUS"
    # The push's own callback: CheckoutRequestID and MpesaReceiptNumber together.
    url, callback = callbacks[first.checkout_request_id or ""]
    assert _send(paybill, url, callback).status_code == 200
    first.refresh_from_db()
    held.refresh_from_db()
    assert first.state == StkState.PAID and first.payment_id == held.pk
    assert held.state == PaymentState.SOLD, (
        f"push {first.checkout_request_id} is paid with receipt {receipt}, yet its money is "
        f"{held.state} ({held.suspense_code})"
    )
    url, callback = callbacks[pushes[1].checkout_request_id or ""]
    _send(paybill, url, callback)
    assert Sale.objects.filter(meter=meter).count() == 2


@pytest.mark.django_db
def test_probe_a_reversal_result_while_the_paybill_is_switched_off_is_not_dropped(
    paybill: Paybill,
) -> None:
    """Severity: medium (a refund the provider carried out is never booked; the payment is
    stuck in ``refunding`` and its suspense never released).

    The callback view refuses every callback but the confirmation while the provider is
    switched off (``MobileProviderDisabled``), and answers the reversal result with
    ``ResultCode 0, "Received"``, so Daraja never sends it again. A paybill switched off for a
    few minutes (maintenance, a suspected leak of its secret) while a reversal is in flight
    loses the result for good: the money is back with the customer, the payment stays
    ``refunding`` for ever (no job asks again), the suspense account keeps it. Cause:
    gateways/mobilemoney/views.py ``callback_view`` (``if not found.is_enabled and kind !=
    CONFIRMATION``). Fix: record and apply reversal results (and STK results) whatever the
    switch says: they report money that has already moved."""
    can_reverse(paybill)
    payment = suspense_payment(paybill, 400)
    asked = services.request_payment_refund(
        actor=paybill.care, payment=payment, reason="paid the wrong paybill"
    )
    services.approve_payment_refund(actor=paybill.finance, request=asked)
    assert payment.trans_id in paybill.daraja.reversed  # the provider reversed it
    _reconfigure(paybill, is_enabled=False)
    (reply,) = paybill.deliver_held()  # its result arrives while the paybill is off
    assert reply.status_code == 200
    _reconfigure(paybill, is_enabled=True)
    payment.refresh_from_db()
    refund = MobileRefundRequest.objects.get()
    assert payment.state == PaymentState.REFUNDED, (
        f"the provider reversed {payment.trans_id}; the payment is {payment.state}, the refund "
        f"{refund.reversal_state}, and the result was answered {reply.json()}"
    )
    assert account_balance(SUSPENSE) == 0


@pytest.mark.django_db
def test_probe_the_daily_books_count_a_payment_whose_refund_is_under_way(
    paybill: Paybill,
) -> None:
    """Severity: medium (the day's proof "every payment is a sale, a suspense item or a
    refund" does not add up, and silently: the payments it drops are the stuck ones).

    ``reconcile_statement`` counts our payments as sold, suspense, refunded or unsettled
    (``received``, ``refund_pending``); a payment ``refunding`` (reversal sent, result not yet
    in, or never: see the probes above) or ``refund_manual`` (approved, to be paid back by
    hand) is in ``our_count`` and in no bucket. The reconciliation screen shows 2 payments,
    1 sold, 0 suspense, 0 refunded, 0 unsettled. Cause: mobilemoney/services/books.py
    ``reconcile_statement`` (``unsettled_count`` lists only RECEIVED and REFUND_PENDING). Fix:
    count REFUNDING and REFUND_MANUAL as unsettled (or a bucket of their own), and check that
    the buckets add up to ``our_count``."""
    from gridvend.ledger.services import today

    can_reverse(paybill)
    meter = paybill.world.add_meter()
    paybill.daraja.pay_bill(phone="254712345126", account=meter.number, amount=500)  # sold
    paybill.deliver_held()
    payment = suspense_payment(paybill, 300)
    asked = services.request_payment_refund(
        actor=paybill.care, payment=payment, reason="paid the wrong paybill"
    )
    sent = services.approve_payment_refund(actor=paybill.finance, request=asked)
    assert sent.state == PaymentState.REFUNDING  # its result not in yet
    recon = services.reconcile_day(provider=paybill.provider, day=today())
    assert recon.our_count == 2 and recon.discrepancies == 0
    buckets = (
        recon.sold_count,
        recon.suspense_count,
        recon.refunded_count,
        recon.unsettled_count,
    )
    assert sum(buckets) == recon.our_count, (
        f"{recon.our_count} payments, but sold/suspense/refunded/unsettled = {buckets}"
    )


@pytest.mark.django_db
def test_probe_a_late_stk_callback_for_money_held_as_ambiguous_is_no_500(
    paybill: Paybill,
) -> None:
    """Severity: high (a 500 to Safaricom, and the one message that proves the held money is
    the already-sold push's is lost: care may sell it a second time).

    Push 1 is sold on the status query's word (no receipt yet); push 2 (same meter, amount and
    phone) waits. Push 1's money then reaches the confirmation URL: two pushes fit, so it is
    held in suspense (MOBILE_STK_MATCH_AMBIGUOUS) under its receipt R1. Push 1's own STK
    callback arrives late with R1: ``apply_result`` sees the push paid without a receipt and
    ``_learn_receipt`` writes R1 on its payment, which breaks the unique (provider, trans_id)
    of the held payment: IntegrityError, HTTP 500, nothing noted. The held payment stays in
    suspense looking like unclaimed money. Cause: stk.py ``_learn_receipt`` (and books.py
    ``_tie_to_push``, the same update). Fix: when the receipt already belongs to a payment held
    as ambiguous, close that payment as this push's money (it was sold) instead of writing the
    receipt twice; never let the update raise."""
    meter = paybill.world.add_meter()
    paybill.daraja.answer_next(PHONE, "silent")
    first = services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="ussd",
    )
    StkPush.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    services.query_late_pushes(provider=paybill.provider)
    first.refresh_from_db()
    assert first.state == StkState.PAID and first.payment is not None
    assert first.payment.trans_id == "" and first.payment.state == PaymentState.SOLD
    second = services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="ussd",
    )
    paybill.daraja.take_held()  # push 2's answer is still on its way
    receipt = paybill.daraja.pushes[first.checkout_request_id or ""]["receipt"]
    body = confirmation(receipt, meter.number, amount="300.00", TransTime=_nairobi_now())
    assert paybill.post("c2b-confirmation", body).json()["ResultCode"] == 0
    held = MobilePayment.objects.get(trans_id=receipt)
    assert held.suspense_code == "MOBILE_STK_MATCH_AMBIGUOUS"
    assert second.state == StkState.REQUESTED
    late = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": first.merchant_request_id,
                "CheckoutRequestID": first.checkout_request_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": 300},
                        {"Name": "MpesaReceiptNumber", "Value": receipt},
                        {"Name": "TransactionDate", "Value": int(_nairobi_now())},
                        {"Name": "PhoneNumber", "Value": int(PHONE)},
                    ]
                },
            }
        }
    }
    client = Client(raise_request_exception=False)
    reply = _send(paybill, paybill.urls["stk-callback"], late, client)
    assert reply.status_code == 200, f"the late STK callback was answered {reply.status_code}"
    assert Sale.objects.filter(meter=meter).count() == 1


@pytest.mark.django_db
def test_probe_a_crash_after_recording_money_held_as_ambiguous_does_not_sell_it_later(
    paybill: Paybill, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Severity: medium (money that may already have been sold by an STK push is sold again).

    ``receive_payment(hold=...)`` writes the payment as ``received`` in one transaction and
    parks it in suspense in a second one; the hold itself is not stored. A process that stops
    between the two (a restart, an OOM kill; the case the module's design guards for sales)
    leaves a plain ``received`` payment, and the back-fill's re-settling of stale payments
    sells it, though two pushes fitted and one had already sold that money. Here push 1 was
    sold on the status query's word; its money arrives as a confirmation while push 2 waits;
    the process dies before the hold is written (simulated by making the second step raise
    once). Cause: mobilemoney/services/payments.py ``receive_payment`` (the hold applied after
    the insert's commit) and books.py ``backfill`` (``settle`` of stale received payments).
    Fix: insert a held payment directly in suspense (with its code and suspense entry) in the
    insert's own transaction."""
    from gridvend.mobilemoney.services import payments

    meter = paybill.world.add_meter()
    paybill.daraja.answer_next(PHONE, "silent")
    first = services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="ussd",
    )
    StkPush.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    services.query_late_pushes(provider=paybill.provider)
    assert Sale.objects.filter(meter=meter).count() == 1  # push 1's money, sold
    services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="ussd",
    )
    paybill.daraja.take_held()
    receipt = paybill.daraja.pushes[first.checkout_request_id or ""]["receipt"]
    body = confirmation(receipt, meter.number, amount="300.00", TransTime=_nairobi_now())

    def killed(payment: MobilePayment, refusal: DomainError) -> MobilePayment:
        raise SystemExit("the process stops here")

    monkeypatch.setattr(payments, "_suspend", killed)
    with pytest.raises(SystemExit):
        paybill.post("c2b-confirmation", body)
    monkeypatch.undo()
    held = MobilePayment.objects.get(trans_id=receipt)
    assert held.state == PaymentState.RECEIVED
    # Later: the back-fill settles what stopped half-way.
    MobilePayment.objects.filter(pk=held.pk).update(
        received_at=timezone.now() - timedelta(minutes=5)
    )
    services.backfill(provider=paybill.provider)
    held.refresh_from_db()
    assert held.state == PaymentState.SUSPENSE, (
        f"money held as ambiguous is {held.state} after the back-fill "
        f"({Sale.objects.filter(meter=meter).count()} sales for one push's money)"
    )
    assert Sale.objects.filter(meter=meter).count() == 1


# What holds ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_holds_care_resolution_after_a_refusal_and_a_repeat_click_sell_once(
    paybill: Paybill,
) -> None:
    """The 1cb07b8 attempt counter: a refused attempt, then two more clicks once the cause is
    mended: one sale, and the second click is refused as not in suspense."""
    from gridvend.meters import services as meters
    from gridvend.mobilemoney.errors import MobilePaymentNotInSuspense

    world = paybill.world
    meter = world.add_meter()
    other = world.add_meter()
    meters.block_meter(actor=world.admin, meter=other, reason="tamper")
    paybill.post("c2b-confirmation", confirmation("RKL51PRB77", "NOBODY"))
    payment = MobilePayment.objects.get()
    refused = services.resolve_by_sale(
        actor=paybill.care, payment=payment, meter_number=other.number, note="wrong meter"
    )
    assert (refused.state, refused.suspense_code) == (PaymentState.SUSPENSE, "METER_BLOCKED")
    sold = services.resolve_by_sale(
        actor=paybill.care, payment=refused, meter_number=meter.number, note="right meter"
    )
    assert sold.state == PaymentState.SOLD
    with pytest.raises(MobilePaymentNotInSuspense):
        services.resolve_by_sale(
            actor=paybill.care, payment=sold, meter_number=meter.number, note="again"
        )
    assert Sale.objects.filter(meter=meter).count() == 1
    assert Sale.objects.filter(meter=other).count() == 0
    assert account_balance(SUSPENSE) == 0


@pytest.mark.django_db
def test_holds_a_reversal_result_for_an_unknown_transaction_changes_nothing(
    paybill: Paybill,
) -> None:
    """The new fall-back lookup by OriginalTransactionID: a forged or stray success naming a
    payment that has no refund request refunds nothing (the callback is kept, the payment
    stays in suspense)."""
    payment = suspense_payment(paybill, 150)
    forged = {
        "Result": {
            "ResultCode": 0,
            "ConversationID": "AG_20261201_forged",
            "TransactionID": "RFORGED001",
            "ResultParameters": {
                "ResultParameter": {"Key": "OriginalTransactionID", "Value": payment.trans_id}
            },
        }
    }
    reply = paybill.post("reversal-result", forged)
    assert reply.status_code == 200
    payment.refresh_from_db()
    assert payment.state == PaymentState.SUSPENSE
    assert account_balance(SUSPENSE) == -15000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_holds_stk_callback_and_confirmation_of_the_same_money_at_once_sell_once(
    paybill: Paybill,
) -> None:
    """The STK callback and the C2B confirmation of one payment arrive together (PostgreSQL,
    real threads): one payment, one sale."""
    assert connection.vendor == "postgresql"
    meter = paybill.world.add_meter()
    push = services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="ussd",
    )
    ((url, callback),) = paybill.daraja.take_held()
    receipt = paybill.daraja.pushes[push.checkout_request_id or ""]["receipt"]
    body = confirmation(receipt, meter.number, amount="300.00", TransTime=_nairobi_now())
    confirm = urlsplit(paybill.urls["c2b-confirmation"]).path

    def arrive(i: int) -> int:
        client = Client()
        if i % 2:
            return int(_send(paybill, url, callback, client).status_code)
        reply = client.post(
            confirm, data=json.dumps(body), content_type="application/json", REMOTE_ADDR=SAFARICOM
        )
        return int(reply.status_code)

    codes, errors = run_threads(4, arrive)
    assert not errors, errors
    assert codes == [200] * 4
    assert MobilePayment.objects.count() == 1
    assert Sale.objects.filter(meter=meter).count() == 1
    push.refresh_from_db()
    assert push.state == StkState.PAID and push.payment is not None
    assert push.payment.trans_id == receipt
