"""The callbacks' own matrix (tests/matrix.py names it): every callback from a wrong address,
with a wrong secret, for an unknown provider, by GET, and with hostile bodies (not JSON, too
large, too deep, missing and mistyped fields, control characters, huge numbers): always
Daraja's own reply shape, never a 500, nothing sold, and nothing stored that did not prove
itself."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from gridvend.mobilemoney.models import MobilePayment, PaymentState, RawCallback, StkPush
from gridvend.vending.models import Sale
from tests.gateways.mobilemoney.conftest import Paybill, confirmation

pytestmark = pytest.mark.django_db

NAMES = ("c2b-validation", "c2b-confirmation", "stk-callback")


def shape(name: str, reply: Any) -> None:
    """Daraja's reply shape: a JSON object with ResultCode and ResultDesc, no more."""
    assert reply["Content-Type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"ResultCode", "ResultDesc"}, body


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_address_is_refused_in_the_providers_shape_and_nothing_is_kept(
    paybill: Paybill, name: str
) -> None:
    meter = paybill.world.add_meter()
    reply = paybill.post(name, confirmation("RHOSTILE01", meter.number), ip="196.201.214.200")
    assert reply.status_code == 403
    shape(name, reply)
    assert not RawCallback.objects.exists() and not MobilePayment.objects.exists()


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_secret_or_unknown_provider_is_refused(paybill: Paybill, name: str) -> None:
    meter = paybill.world.add_meter()
    path = urlsplit(paybill.urls[name]).path
    secret = path.split("/")[3]
    for bad in (
        path.replace(secret, "0" * len(secret)),
        path.replace(secret, secret[:-1]),
        path.replace("/mpesa/", "/airtel/"),
        path.replace(secret, "x" * 300),
    ):
        reply = paybill.client.post(
            bad,
            data=json.dumps(confirmation("RHOSTILE02", meter.number)),
            content_type="application/json",
            REMOTE_ADDR="127.0.0.1",
        )
        assert reply.status_code in (403, 404)
        if reply.status_code == 403:
            shape(name, reply)
    assert not RawCallback.objects.exists() and not MobilePayment.objects.exists()


@pytest.mark.parametrize("name", NAMES)
def test_get_is_refused_with_allow_post(paybill: Paybill, name: str) -> None:
    reply = paybill.client.get(urlsplit(paybill.urls[name]).path, REMOTE_ADDR="127.0.0.1")
    assert reply.status_code == 405 and reply["Allow"] == "POST"
    shape(name, reply)


HOSTILE_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"[1, 2, 3]",
    b"\xff\xfe\x00",
    b'{"TransID": ' + b"[" * 50 + b"]" * 50 + b"}",
    b'{"TransID": "A" }',
    b'{"TransAmount": "100"}',
    b'{"TransID": null, "TransAmount": "100", "BillRefNumber": "x"}',
    b'{"TransID": "RKL\\u0000ZZ", "TransAmount": "100", "BillRefNumber": "x"}',
    b'{"TransID": "RKL51ZDR99", "TransAmount": 1e400, "BillRefNumber": "x"}',
    b'{"TransID": "RKL51ZDR98", "TransAmount": NaN, "BillRefNumber": "x"}',
    b'{"TransID": "RKL51ZDR97", "TransAmount": {"a": 1}, "BillRefNumber": ["x"]}',
    b'{"TransID": "' + b"A" * 5000 + b'", "TransAmount": "100"}',
    b'{"Body": {"stkCallback": {"ResultCode": 0}}}',
    b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_nope", "ResultCode": 0}}}',
    b'{"Body": "x"}',
]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_bodies_get_the_providers_shape_and_never_a_500(
    paybill: Paybill, name: str
) -> None:
    for raw in HOSTILE_BODIES:
        reply = paybill.post(name, None, raw=raw)
        assert reply.status_code == 200, raw
        shape(name, reply)
        if name == "c2b-validation":
            assert reply.json()["ResultCode"] in {"C2B00012", "C2B00013", "C2B00016"}, raw
    # Hostile bodies are kept for the auditor, each with its problem or its payment (an
    # unreadable amount under a readable TransID is money to look at: suspense); none sold.
    for stored in RawCallback.objects.all():
        assert stored.problem or (stored.payment and stored.payment.state == "suspense")
    assert not Sale.objects.exists()
    assert not StkPush.objects.exists()
    for payment in MobilePayment.objects.all():  # the unreadable amounts wait in suspense
        assert payment.state == PaymentState.SUSPENSE


def test_a_body_over_the_cap_is_refused_before_it_is_read(paybill: Paybill) -> None:
    raw = b'{"TransID": "RKL51ZDR96", "pad": "' + b"x" * 20000 + b'"}'
    reply = paybill.post("c2b-confirmation", None, raw=raw)
    assert reply.status_code == 200
    assert reply.json() == {"ResultCode": 0, "ResultDesc": "Received"}
    assert not MobilePayment.objects.exists()


def test_raw_callbacks_keep_the_source_address_and_the_reply(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    paybill.post("c2b-confirmation", confirmation("RKL51ZDR95", meter.number))
    stored = RawCallback.objects.get()
    assert stored.source_ip == "127.0.0.1" and "RKL51ZDR95" in stored.body
    assert json.loads(stored.reply) == {"ResultCode": 0, "ResultDesc": "Success"}
    assert stored.payment == MobilePayment.objects.get()
