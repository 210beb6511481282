"""The Africa's Talking SMS backend against a real HTTP server on a local socket: what it posts,
and how each answer (accepted, a rejected number, a server error then success, refused
credentials, rate limits, nonsense) and a refused connection become the message's outcome."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.test import override_settings
from django.utils import timezone

from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.notifications import services

pytestmark = pytest.mark.django_db


def _answer(code: int = 101, status: str = "Success", message_id: str = "ATXid_1") -> dict:
    return {
        "SMSMessageData": {
            "Message": "Sent to 1/1 Total Cost: KES 0.8000",
            "Recipients": [
                {
                    "statusCode": code,
                    "number": "+254712345678",
                    "status": status,
                    "cost": "KES 0.8000",
                    "messageId": message_id,
                }
            ],
        }
    }


@dataclass
class Reply:
    status: int = 201
    body: bytes | dict = field(default_factory=_answer)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Gateway:
    """A local stand-in for api.africastalking.com: it records each request and plays the
    replies it was given, in order (the last one again when they run out)."""

    url: str
    replies: list[Reply]
    requests: list[dict] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway(url="", replies=[Reply()])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            state.requests.append({"path": self.path, "headers": dict(self.headers), "form": form})
            reply = state.replies.pop(0) if len(state.replies) > 1 else state.replies[0]
            if reply.delay:
                time.sleep(reply.delay)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/version1/messaging"
    with override_settings(
        SMS_BACKEND="africastalking",
        SMS_AT_URL=state.url,
        SMS_AT_USERNAME="sandbox",
        SMS_AT_API_KEY="atsk_test_key",
        SMS_SENDER_ID="GRIDVEND",
        SMS_TIMEOUT_SECONDS=1,
        OUTBOX_MAX_ATTEMPTS=4,
        OUTBOX_BACKOFF_SECONDS=30,
        OUTBOX_BACKOFF_MAX_SECONDS=600,
    ):
        yield state
    server.shutdown()
    server.server_close()


def _queue(key: str = "at") -> OutboxMessage:
    row = services.queue_sms(
        to="0712 345 678", template="configuration_check", context={"utility": "DPL"}, key=key
    )
    assert row is not None
    return row


def _after_drain(row: OutboxMessage) -> OutboxMessage:
    outbox.drain(kinds=["sms"])
    row.refresh_from_db()
    return row


def _make_due(row: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


def test_an_accepted_message_is_sent_with_the_gateways_message_id(gateway: Gateway) -> None:
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.SENT and row.receipt == "ATXid_1"
    [request] = gateway.requests
    assert request["path"] == "/version1/messaging"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["apikey"] == "atsk_test_key"
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {
        "username": ["sandbox"],
        "to": ["+254712345678"],
        "message": ["DPL: a test message. SMS from the vending system reach this number."],
        "from": ["GRIDVEND"],
    }


def test_a_rejected_number_fails_for_good_at_once(gateway: Gateway) -> None:
    gateway.replies = [Reply(body=_answer(403, "InvalidPhoneNumber", "None"))]
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert "403 InvalidPhoneNumber" in row.last_error
    assert outbox.drain() == {}
    assert len(gateway.requests) == 1


def test_a_server_error_is_retried_after_the_back_off_then_succeeds(gateway: Gateway) -> None:
    gateway.replies = [Reply(status=500, body=b"upstream broke"), Reply()]
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert "HTTP 500" in row.last_error and "upstream broke" in row.last_error
    assert outbox.drain() == {}, "not before its back-off"
    _make_due(row)
    row = _after_drain(row)
    assert row.status == OutboxStatus.SENT and row.attempts == 2 and row.last_error == ""
    assert len(gateway.requests) == 2


def test_a_refused_connection_is_retried(gateway: Gateway) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with override_settings(SMS_AT_URL=f"http://127.0.0.1:{closed_port}/version1/messaging"):
        row = _after_drain(_queue())
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert "not reached" in row.last_error and "refused" in row.last_error.lower()


def test_a_gateway_that_does_not_answer_in_time_is_retried(gateway: Gateway) -> None:
    gateway.replies = [Reply(delay=2.0)]
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.PENDING
    assert "not reached" in row.last_error


def test_refused_credentials_fail_for_good_and_say_what_to_check(gateway: Gateway) -> None:
    gateway.replies = [Reply(status=401, body=b"The supplied authentication is invalid")]
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.FAILED
    assert "GRIDVEND_SMS_AT_API_KEY" in row.last_error


def test_a_rate_limit_waits_at_least_its_retry_after(gateway: Gateway) -> None:
    gateway.replies = [Reply(status=429, body=b"slow down", headers={"Retry-After": "300"})]
    before = timezone.now()
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.PENDING
    assert row.next_attempt_at is not None
    assert row.next_attempt_at - before >= timedelta(seconds=300)


def test_a_refused_request_without_recipients_fails_for_good(gateway: Gateway) -> None:
    gateway.replies = [
        Reply(body={"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}})
    ]
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.FAILED and "InvalidSenderId" in row.last_error


@pytest.mark.parametrize(
    "body",
    [b"<html>proxy error</html>", b'{"SMSMessageData": 3}', b"{" + b" " * 70_000 + b"}"],
    ids=["not-json", "wrong-shape", "too-long"],
)
def test_an_answer_that_is_not_understood_is_retried(gateway: Gateway, body: bytes) -> None:
    gateway.replies = [Reply(body=body)]
    row = _after_drain(_queue())
    assert row.status == OutboxStatus.PENDING and row.attempts == 1


def test_a_low_balance_is_retried_and_the_last_attempt_fails(gateway: Gateway) -> None:
    gateway.replies = [Reply(body=_answer(405, "InsufficientBalance", "None"))]
    row = _queue()
    for attempt in range(1, 5):
        _make_due(row)
        row = _after_drain(row)
        assert row.attempts == attempt
    assert row.status == OutboxStatus.FAILED
    assert "405 InsufficientBalance" in row.last_error
    assert len(gateway.requests) == 4
