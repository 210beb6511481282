"""Review of issue 15 (mobile money), as a hostile aggregator and a careless customer care
officer. Each probe fails while the defect it names is real. Against the sandbox Daraja over
real HTTP; where the network itself misbehaves, a real TCP relay in front of the sandbox drops
the reply."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

import tests.world
from gridvend.ledger.selectors import account_balance
from gridvend.meters import services as meters
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileRefundRequest,
    PaymentState,
    StkPush,
    StkState,
)
from gridvend.mobilemoney.services.suspense import suspense_findings
from gridvend.sts.identity import MeterNumber
from gridvend.vending.models import Sale
from tests.gateways.mobilemoney.conftest import PHONE, Paybill, confirmation

pytestmark = pytest.mark.django_db


def _thirteen_digit_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Meters the test world adds get 13-digit numbers (4-digit manufacturer code), which
    STS and gridvend accept like 11-digit ones."""
    monkeypatch.setattr(
        tests.world,
        "meter_number",
        lambda serial, mfr="04": str(MeterNumber.from_parts("0104", serial)),
    )


def test_probe_stk_push_for_a_13_digit_meter_sells_instead_of_parking_in_suspense(
    paybill: Paybill, monkeypatch: pytest.MonkeyPatch
) -> None:
    """request_stk_push keeps ``account_ref=meter[:12]`` (Daraja's AccountReference limit) and
    the paid push becomes a payment whose account is those 12 digits: no meter has them, so
    every STK purchase for a 13-digit meter lands in suspense (customer paid, no token)."""
    _thirteen_digit_numbers(monkeypatch)
    meter = paybill.world.add_meter()
    assert len(meter.number) == 13
    push = services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="cashier",
    )
    paybill.deliver_held()
    push.refresh_from_db()
    assert push.state == StkState.PAID and push.payment is not None
    payment = push.payment
    assert (payment.state, payment.suspense_code) == (PaymentState.SOLD, ""), (
        f"paid STK push for meter {meter.number} is {payment.state} "
        f"({payment.suspense_code}), account {payment.account_ref!r}"
    )
    _payment, _sale, digits = paybill.sold(payment)
    assert paybill.tokens_accepted(meter, digits)


def test_probe_care_can_sell_to_the_same_meter_after_a_refused_attempt(paybill: Paybill) -> None:
    """resolve_by_sale sells under ``<trans_id>:<meter>``; the partner services answer a repeat
    of a request id with its first refusal "however things stand now". Care that clicks *Sell*
    once before the meter is unblocked (or the float topped up) can never sell that payment to
    that meter again."""
    world = paybill.world
    meter = world.add_meter()
    meters.block_meter(actor=world.admin, meter=meter, reason="tamper")
    paybill.post("c2b-confirmation", confirmation("RKL51PRB01", meter.number))
    payment = MobilePayment.objects.get()
    assert (payment.state, payment.suspense_code) == (PaymentState.SUSPENSE, "METER_BLOCKED")
    care = world.supervisor
    # Too early: the meter is still blocked. Refused, still in suspense (as documented).
    early = services.resolve_by_sale(
        actor=care, payment=payment, meter_number=meter.number, note="customer called"
    )
    assert (early.state, early.suspense_code) == (PaymentState.SUSPENSE, "METER_BLOCKED")
    meters.unblock_meter(actor=world.admin, meter=meter, reason="inspected")
    again = services.resolve_by_sale(
        actor=care, payment=early, meter_number=meter.number, note="meter unblocked now"
    )
    assert again.state == PaymentState.SOLD, (
        f"after unblocking, the sale is still refused with {again.suspense_code}"
    )
    assert Sale.objects.filter(meter=meter).count() == 1


def test_probe_confirmation_for_an_stk_receipt_sold_on_the_status_query_sells_once(
    paybill: Paybill,
) -> None:
    """A push paid by the status query's word is sold with no receipt. If the same money then
    reaches the confirmation URL under its receipt (integrators report that M-Pesa Express
    payments to a paybill are also confirmed by C2B), the confirmation path does no STK
    matching (only the back-fill does) and sells the money a second time."""
    meter = paybill.world.add_meter()
    paybill.daraja.answer_next(PHONE, "silent")
    push = services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter.number,
        amount=paybill.world.money("300"),
        channel="ussd",
    )
    StkPush.objects.filter(pk=push.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    services.query_late_pushes(provider=paybill.provider)
    push.refresh_from_db()
    assert push.state == StkState.PAID
    assert Sale.objects.filter(meter=meter).count() == 1
    receipt = paybill.daraja.pushes[push.checkout_request_id or ""]["receipt"]
    body = confirmation(receipt, meter.number, amount="300.00", TransactionType="Pay Bill")
    assert paybill.post("c2b-confirmation", body).json()["ResultCode"] == 0
    assert Sale.objects.filter(meter=meter).count() == 1, "the STK money was sold twice"


class _Relay:
    """A real HTTP relay in front of the sandbox: everything is passed through, except that
    the reply to a reversal request is dropped after the sandbox has taken it (the connection
    closes: a reply lost on the network, or a read time-out)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _pass(self, method: str) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else None
                request = urllib.request.Request(
                    relay.upstream + self.path, data=body, method=method
                )
                for name in ("Authorization", "Content-Type"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                try:
                    with urllib.request.urlopen(request, timeout=10) as reply:
                        status, data = reply.status, reply.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                if "/reversal/" in self.path:
                    self.close_connection = True
                    return  # the sandbox reversed it; our client never hears
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._pass("GET")

            def do_POST(self) -> None:
                self._pass("POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = str(self.server.server_address[0]), int(self.server.server_address[1])
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_probe_a_reversal_whose_reply_is_lost_is_not_sold_again_after_the_money_left(
    paybill: Paybill,
) -> None:
    """A reversal request the provider took but whose reply never came back (a dropped
    connection, a read time-out) is treated as a definite failure: the payment returns to
    suspense as MOBILE_REVERSAL_FAILED with no ConversationID kept, so the provider's real
    result ("reversed") is refused as unknown. The money is back with the customer while the
    payment sits in suspense, where care may sell it to a meter: paid out twice."""
    provider = paybill.provider
    sandbox_url = provider.base_url
    relay = _Relay(sandbox_url)
    try:
        values = services.ProviderSettings(
            **{
                name: getattr(provider, name)
                for name in services.ProviderSettings.__dataclass_fields__
                if name not in ("initiator_env", "security_credential_env", "base_url")
            },
            base_url=relay.url,
            initiator_env="GRIDVEND_TEST_MPESA_INITIATOR",
            security_credential_env="GRIDVEND_TEST_MPESA_CREDENTIAL",
        )
        paybill.provider = services.configure_provider(
            actor=paybill.world.admin, partner=paybill.partner, values=values
        )
        body = paybill.daraja.pay_bill(phone=PHONE, account="NOBODY9", amount=350)
        paybill.deliver_held()
        payment = MobilePayment.objects.get(trans_id=body["TransID"])
        assert payment.state == PaymentState.SUSPENSE
        asked = services.request_payment_refund(
            actor=paybill.care, payment=payment, reason="paid the wrong paybill"
        )
        services.approve_payment_refund(actor=paybill.finance, request=asked)
    finally:
        relay.stop()
    # The provider did reverse it, and says so on the result URL.
    assert payment.trans_id in paybill.daraja.reversed
    paybill.deliver_held()
    payment.refresh_from_db()
    refund = MobileRefundRequest.objects.get()
    assert payment.state in (PaymentState.REFUNDING, PaymentState.REFUNDED), (
        f"the provider reversed {payment.trans_id} but the payment is {payment.state} "
        f"({payment.suspense_code}); refund {refund.reversal_state}: care can now sell it"
    )
    if payment.state == PaymentState.REFUNDED:
        assert account_balance(f"mobile-suspense:{paybill.provider.code}") == 0
        assert suspense_findings() == []
