"""E-mail through SMTP against a real SMTP server on a local socket (aiosmtpd): delivered with
its parts and a stable Message-ID, refused recipients and refused sign-ins fail for good, a
deferral or a refused connection is retried."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.test import override_settings

from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.notifications import services
from gridvend.notifications.backends.email import message_id

pytestmark = pytest.mark.django_db


@dataclass
class Mailbox:
    port: int = 0
    received: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


class Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        if address.startswith("later@"):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.box.received.append(email.message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _smtp_settings(port: int, **extra: Any) -> override_settings:
    values: dict[str, Any] = {
        "EMAIL_ENABLED": True,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": port,
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 5,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "DEFAULT_FROM_EMAIL": "Demo Power <vending@dpl.example>",
    }
    return override_settings(**(values | extra))


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())
    controller = Controller(Handler(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    with _smtp_settings(box.port):
        yield box
    controller.stop()


def _queue(to: str | list[str], key: str = "mail", language: str = "en") -> OutboxMessage:
    row = services.queue_email(
        to=to,
        template="configuration_check",
        context={"utility": "Demo Power"},
        key=key,
        language=language,
    )
    assert row is not None
    return row


def _after_drain(row: OutboxMessage) -> OutboxMessage:
    outbox.drain(kinds=["email"])
    row.refresh_from_db()
    return row


def test_an_email_reaches_the_smtp_server_with_its_parts_and_message_id(mailbox: Mailbox) -> None:
    row = _after_drain(_queue("ops@dpl.example", language="ar"))
    assert row.status == OutboxStatus.SENT
    [message] = mailbox.received
    assert mailbox.envelopes == [("vending@dpl.example", ["ops@dpl.example"])]
    assert message["Message-ID"] == message_id("email:mail") == row.receipt
    assert str(email.header.make_header(email.header.decode_header(message["Subject"]))) == (
        "Demo Power: رسالة اختبار"
    )
    parts = {part.get_content_type(): part for part in message.walk()}
    assert "text/plain" in parts and "text/html" in parts
    html = parts["text/html"].get_payload(decode=True)
    assert isinstance(html, bytes) and b'dir="rtl"' in html


def test_the_same_message_delivered_again_carries_the_same_message_id(mailbox: Mailbox) -> None:
    row = _after_drain(_queue("ops@dpl.example"))
    OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxStatus.FAILED)
    from gridvend.jobs import services as jobs

    jobs.retry_outbox_message(message_id=row.pk, by="test")
    _after_drain(row)
    assert [m["Message-ID"] for m in mailbox.received] == [message_id("email:mail")] * 2


def test_a_refused_recipient_fails_for_good(mailbox: Mailbox) -> None:
    row = _after_drain(_queue("nobody@dpl.example"))
    assert row.status == OutboxStatus.FAILED
    assert "550" in row.last_error and "nobody@dpl.example" in row.last_error
    assert mailbox.received == []


def test_a_deferred_recipient_is_retried(mailbox: Mailbox) -> None:
    row = _after_drain(_queue("later@dpl.example"))
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert "451" in row.last_error


def test_one_refused_recipient_among_others_does_not_stop_the_message(mailbox: Mailbox) -> None:
    row = _after_drain(_queue(["ops@dpl.example", "nobody@dpl.example"]))
    assert row.status == OutboxStatus.SENT
    assert mailbox.envelopes == [("vending@dpl.example", ["ops@dpl.example"])]


def test_a_refused_connection_is_retried() -> None:
    with _smtp_settings(_free_port()):
        row = _after_drain(_queue("ops@dpl.example"))
    assert row.status == OutboxStatus.PENDING
    assert "not reached" in row.last_error


def test_a_refused_sign_in_fails_for_good_and_says_what_to_check() -> None:
    def refuse(*_args: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)

    box = Mailbox(port=_free_port())
    controller = Controller(
        Handler(box),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=refuse,
        auth_require_tls=False,
    )
    controller.start()
    try:
        with _smtp_settings(box.port, EMAIL_HOST_USER="vend", EMAIL_HOST_PASSWORD="wrong"):
            row = _after_drain(_queue("ops@dpl.example"))
    finally:
        controller.stop()
    assert row.status == OutboxStatus.FAILED
    assert "GRIDVEND_EMAIL_PASSWORD" in row.last_error
    assert box.received == []
