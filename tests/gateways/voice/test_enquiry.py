"""The phone enquiry over real HTTP (a live server and urllib): the aggregator's voice callbacks
(account number by DTMF → balance, arrears and last payment spoken) and the ``BAL <account>``
SMS, with hostile digits, unknown accounts, a wrong secret and a foreign address."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from gridvend.customers import services as customers
from gridvend.identity.roles import Capability, Role
from gridvend.jobs.models import OutboxMessage
from gridvend.phone.models import InboundSms
from tests import factories
from tests.dunning.conftest import Dunning, dunning, scene  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "aggregator-shared-secret-1"


@pytest.fixture
def enquiry(dunning: Dunning) -> Iterator[Dunning]:  # noqa: F811
    ivr = factories.user(dunning.s.world.tree.north, Role.OPERATOR, (Capability.CUSTOMER_CARE,))
    with override_settings(
        ENQUIRY_USER=ivr.username, VOICE_WEBHOOK_SECRET=SECRET, SMS_BACKEND="console"
    ):
        yield dunning


def post(url: str, fields: dict[str, str], *, key: str | None = SECRET) -> tuple[int, Any, bytes]:
    target = f"{url}?{urllib.parse.urlencode({'key': key})}" if key is not None else url
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        target, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def call(live_server: Any, digits: str | None = None, **extra: str) -> tuple[int, Any, bytes]:
    # A call of its own unless the test names one (tries are counted per call).
    # A calling number of its own too (tries are also counted per number and hour).
    session = f"ATVId_{uuid.uuid4().hex[:12]}"
    caller = f"+2547{uuid.uuid4().int % 10**8:08d}"
    fields = {"isActive": "1", "sessionId": session, "callerNumber": caller}
    if digits is not None:
        fields["dtmfDigits"] = digits
    return post(f"{live_server.url}/voice/ivr", fields | extra)


def said(body: bytes) -> str:
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return " ".join(el.text or "" for el in root.iter("Say"))


def test_a_call_is_asked_for_the_account_number(enquiry: Dunning, live_server: Any) -> None:
    status, headers, body = call(live_server)
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    digits = ET.fromstring(body).find("GetDigits")
    assert digits is not None and digits.get("finishOnKey") == "#"
    assert digits.get("callbackUrl") == f"{live_server.url}/voice/ivr?key={SECRET}"
    assert "account number" in said(body)


def test_the_account_number_is_answered_with_balance_arrears_and_last_payment(
    enquiry: Dunning, live_server: Any
) -> None:
    d = enquiry
    d.pay(d.s.a, 100000, "BANK-IVR")
    number = d.customer(d.s.a).account_number
    status, _headers, body = call(live_server, digits=f"{number}#")
    assert status == 200
    text = said(body)
    assert " ".join(number) in text
    owed = d.owed(d.s.a)
    assert f"{owed // 100} Kenyan shillings" in text
    assert "The last payment was 1000 Kenyan shillings" in text
    assert ET.fromstring(body).find("GetDigits") is None


def test_an_arabic_speaking_customer_is_answered_in_arabic(
    enquiry: Dunning, live_server: Any
) -> None:
    d = enquiry
    customer = d.customer(d.s.a)
    customers.update_customer(actor=d.s.world.admin, customer=customer, language="ar")
    _status, _headers, body = call(live_server, digits=customer.account_number)
    assert "المبلغ المستحق" in said(body)


@pytest.mark.parametrize(
    "digits",
    ["", "#", "12ab", "1" * 21, "١٢٣٤٥", "12 34", "1*2", "%00", "1\u202e2", "9" * 400],
)
def test_hostile_digits_are_asked_again(enquiry: Dunning, live_server: Any, digits: str) -> None:
    status, headers, body = call(live_server, digits=digits)
    assert status == 200
    assert headers["X-Gridvend-Error"] == "ENQUIRY_INPUT_INVALID"
    assert ET.fromstring(body).find("GetDigits") is not None


def test_unknown_prepaid_and_out_of_scope_accounts_are_all_unknown(
    enquiry: Dunning, live_server: Any
) -> None:
    d = enquiry
    for number in (
        "999999999",
        d.customer(d.s.prepaid).account_number,
        d.customer(d.s.south).account_number,
    ):
        status, headers, body = call(live_server, digits=number)
        assert status == 200, number
        assert headers["X-Gridvend-Error"] == "ENQUIRY_ACCOUNT_UNKNOWN", number
        assert "no postpaid account" in said(body)


def test_a_wrong_or_missing_secret_is_rejected(enquiry: Dunning, live_server: Any) -> None:
    d = enquiry
    number = d.customer(d.s.a).account_number
    for key in ("wrong", "", None):
        url = f"{live_server.url}/voice/ivr"
        status, headers, body = post(url, {"sessionId": "x", "dtmfDigits": number}, key=key)
        assert status == 403 and headers["X-Gridvend-Error"] == "ENQUIRY_NOT_AUTHORISED"
        assert ET.fromstring(body).find("Reject") is not None
        assert number.encode() not in body


def test_an_address_outside_the_allow_list_is_rejected(enquiry: Dunning, live_server: Any) -> None:
    with override_settings(VOICE_ALLOWED_IPS=["192.0.2.0/24"]):
        status, _headers, _body = call(live_server)
    assert status == 403
    with override_settings(VOICE_ALLOWED_IPS=["127.0.0.1"]):
        assert call(live_server)[0] == 200


def test_without_a_secret_or_allow_list_nobody_is_let_in(
    enquiry: Dunning, live_server: Any
) -> None:
    with override_settings(VOICE_WEBHOOK_SECRET="", VOICE_ALLOWED_IPS=[]):
        assert call(live_server)[0] == 403


def test_a_body_too_large_and_a_get_are_refused(enquiry: Dunning, live_server: Any) -> None:
    status, headers, _body = call(live_server, filler="x" * 9000)
    assert status == 200 and headers["X-Gridvend-Error"] == "ENQUIRY_INPUT_INVALID"
    try:
        urllib.request.urlopen(f"{live_server.url}/voice/ivr?key={SECRET}", timeout=30)
    except urllib.error.HTTPError as error:
        assert error.code == 405
    else:
        pytest.fail("GET answered")


def test_the_end_of_call_notification_is_acknowledged(enquiry: Dunning, live_server: Any) -> None:
    status, _headers, body = call(live_server, isActive="0", durationInSeconds="12")
    assert status == 200 and ET.fromstring(body).tag == "Response" and len(ET.fromstring(body)) == 0


def sms(live_server: Any, **fields: str) -> tuple[int, dict[str, Any]]:
    status, _headers, body = post(f"{live_server.url}/voice/sms", fields)
    return status, json.loads(body)


def test_bal_from_the_registered_phone_is_answered_once_by_sms(
    enquiry: Dunning, live_server: Any
) -> None:
    d = enquiry
    customer = d.customer(d.s.a)
    customers.update_customer(actor=d.s.world.admin, customer=customer, phone="0711000005",
                              language="zh-hans")  # fmt: skip
    fields = {"id": "ATXid_1", "from": "+254711000005", "text": f"bal {customer.account_number}"}
    # No paybill is set in this world: the postpaid balance needs none.
    assert sms(live_server, **fields) == (200, {"status": "received", "outcome": ""})
    assert sms(live_server, **fields) == (200, {"status": "duplicate", "outcome": ""})
    message = OutboxMessage.objects.get(kind="sms")
    # The phone chose no language: the account registered to it is answered in its own.
    assert message.payload["to"] == "+254711000005" and message.payload["language"] == "zh-hans"
    assert customer.account_number in message.payload["text"] and "逾期" in message.payload["text"]
    inbound = InboundSms.objects.get(message_id="ATXid_1")
    assert inbound.command == "BAL" and inbound.provider is None and inbound.outcome == ""


def test_bal_from_another_phone_tells_nothing_of_the_account(
    enquiry: Dunning, live_server: Any
) -> None:
    d = enquiry
    customer = d.customer(d.s.a)
    number = customer.account_number
    status, answer = sms(
        live_server, id="ATXid_2", **{"from": "+254722000000"}, text=f"BAL {number}"
    )
    assert (status, answer) == (200, {"status": "received", "outcome": "PHONE_BALANCE_UNKNOWN"})
    unknown = sms(live_server, id="ATXid_2b", **{"from": "+254722000000"}, text="BAL 99999999")
    assert unknown == (200, {"status": "received", "outcome": "PHONE_BALANCE_UNKNOWN"})
    texts = [m.payload["text"] for m in OutboxMessage.objects.filter(kind="sms").order_by("id")]
    # The same sentence for someone else's account and for a number that is nobody's.
    assert texts[0].replace(number, "N") == texts[1].replace("99999999", "N")
    assert customer.name not in texts[0]


def test_the_voice_aggregators_sms_takes_the_same_commands(
    enquiry: Dunning, live_server: Any
) -> None:
    status, answer = sms(live_server, id="ATXid_4", **{"from": "+254722000001"}, text="help")
    assert (status, answer) == (200, {"status": "received", "outcome": ""})
    assert "BAL <account>" in OutboxMessage.objects.get(kind="sms").payload["text"]
    # Buying needs the paybill, which this world has not got: a clear refusal, not an error.
    status, answer = sms(
        live_server, id="ATXid_5", **{"from": "+254722000001"}, text="BUY 04300000009 100"
    )
    assert (status, answer) == (200, {"status": "received", "outcome": "PHONE_CHANNEL_UNAVAILABLE"})
    # A message on several lines is read, not refused (the aggregator would post it again).
    status, answer = sms(live_server, id="ATXid_6", **{"from": "+254722000001"}, text="HELP\r\n")
    assert (status, answer) == (200, {"status": "received", "outcome": ""})


def test_a_hostile_sms_is_refused_in_its_own_json_shape(enquiry: Dunning, live_server: Any) -> None:
    status, answer = sms(live_server, id="ATXid_3", **{"from": "not a phone"}, text="BAL 1")
    assert status == 400 and answer["errorCode"] == "INVALID_INPUT"
    status, answer = sms(live_server, **{"from": "+254722000000"}, text="BAL 1")
    assert status == 400 and answer["errorCode"] == "ENQUIRY_INPUT_INVALID"
    status, _headers, body = post(
        f"{live_server.url}/voice/sms", {"id": "x", "from": "+254722000000"}, key="bad"
    )
    assert status == 403 and json.loads(body)["errorCode"] == "ENQUIRY_NOT_AUTHORISED"
    assert not OutboxMessage.objects.exists() and not InboundSms.objects.exists()


def test_one_call_cannot_walk_the_account_numbers(enquiry: Dunning, live_server: Any) -> None:
    d = enquiry
    d.pay(d.s.a, 100000, "BANK-ENUM")
    known = {d.customer(d.s.a).account_number, d.customer(d.s.b).account_number}
    width = len(next(iter(known)))
    session = {"sessionId": "ATVId_walker"}
    tries = [f"{n:0{width}d}" for n in range(1, 4)] + sorted(known)
    replies = [call(live_server, digits=f"{number}#", **session)[2] for number in tries]
    # Three wrong numbers are asked again; the fourth try ends the call, real account or not.
    assert all(b"<GetDigits" in body for body in replies[:3])
    for body in replies[3:]:
        assert b"<GetDigits" not in body and "Too many tries" in said(body)
    # An answered number ends the call's tries too.
    other = {"sessionId": "ATVId_answered"}
    first, second = sorted(known)
    assert "Too many tries" not in said(call(live_server, digits=f"{first}#", **other)[2])
    assert "Too many tries" in said(call(live_server, digits=f"{second}#", **other)[2])


def test_one_calling_number_cannot_walk_the_account_numbers_over_many_calls(
    enquiry: Dunning, live_server: Any
) -> None:
    from gridvend.dunning.enquiry import MAX_CALL_TRIES, MAX_CALLER_TRIES_PER_HOUR

    d = enquiry
    account = d.customer(d.s.a).account_number
    wrong = f"{int(account) + 1:0{len(account)}d}" if account.isdigit() else "9" * len(account)
    caller = {"callerNumber": "+254733000111"}
    # Call after call, each within its own three tries, until the number's hour is used.
    keyed = 0
    while keyed < MAX_CALLER_TRIES_PER_HOUR:
        session = {"sessionId": f"ATVId_hop{keyed}"}
        for _ in range(min(MAX_CALL_TRIES, MAX_CALLER_TRIES_PER_HOUR - keyed)):
            body = call(live_server, digits=f"{wrong}#", **session, **caller)[2]
            assert "Too many tries" not in said(body)
            keyed += 1
    # A new call from the same number is refused even its real account number ...
    body = call(live_server, digits=f"{account}#", sessionId="ATVId_hop_last", **caller)[2]
    assert "Too many tries" in said(body) and b"<GetDigits" not in body
    # ... while another number is answered.
    other = call(live_server, digits=f"{account}#", callerNumber="+254733000222")[2]
    assert "Too many tries" not in said(other) and b"<GetDigits" not in other
