"""Queueing SMS and e-mail: numbers and addresses read at the edge, messages rendered from their
templates in English, Arabic and Simplified Chinese, once per key, nothing when switched off,
and delivered by the console and file backends."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings

from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import InvalidInput
from gridvend.notifications import services
from gridvend.notifications.backends.sms import ConsoleSmsBackend, FileSmsBackend, Sms
from gridvend.notifications.errors import NotificationErrorCode
from gridvend.notifications.rendering import LRI, PDI, language_code, render_sms

pytestmark = pytest.mark.django_db

CONTEXT = {"utility": "Demo Power & Light"}


def _check_sms(to: str = "0712 345 678", language: str | None = None, key: str = "k"):
    return services.queue_sms(
        to=to, template="configuration_check", context=CONTEXT, key=key, language=language
    )


@override_settings(SMS_BACKEND="file")
def test_an_sms_is_queued_in_e164_with_its_text_rendered_once() -> None:
    row = _check_sms()
    assert row is not None
    assert row.kind == "sms" and row.key == "sms:k" and row.status == OutboxStatus.PENDING
    assert row.payload["to"] == "+254712345678"
    assert row.payload["language"] == "en"
    # Text templates are not HTML: "&" stays "&".
    assert row.payload["text"] == (
        "Demo Power & Light: a test message. SMS from the vending system reach this number."
    )
    assert _check_sms().pk == row.pk, "the same key is the same message"
    assert OutboxMessage.objects.count() == 1


@override_settings(SMS_BACKEND="file")
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "a test message"),
        ("ar", "رسالة اختبار"),
        ("zh-hans", "测试消息"),
        ("zh_Hans", "测试消息"),
    ],
)
def test_the_sms_is_written_in_the_language_asked_for(language: str, expected: str) -> None:
    row = _check_sms(language=language, key=f"lang-{language}")
    assert row is not None
    assert expected in row.payload["text"]
    assert row.payload["language"] == language_code(language)


@override_settings(SMS_BACKEND="file", LANGUAGE_CODE="ar")
def test_without_a_language_the_utilitys_default_is_used() -> None:
    row = _check_sms()
    assert row is not None and row.payload["language"] == "ar"
    assert "رسالة اختبار" in row.payload["text"]


@override_settings(SMS_BACKEND="file")
def test_a_bad_number_or_language_is_refused_with_its_code_and_nothing_is_queued() -> None:
    with pytest.raises(InvalidInput) as bad:
        _check_sms(to="07 CALL ME")
    assert bad.value.params["reason"] == "not_a_phone"
    with pytest.raises(InvalidInput) as empty:
        _check_sms(to="  ")
    assert empty.value.params["reason"] == "required"
    with pytest.raises(DomainError) as language:
        _check_sms(language="fr")
    assert language.value.code == NotificationErrorCode.NOTIFICATION_LANGUAGE_UNSUPPORTED
    with pytest.raises(DomainError) as long_text:
        services.queue_sms(
            to="0712345678",
            template="configuration_check",
            context={"utility": "x" * 700},
            key="long",
        )
    assert long_text.value.code == NotificationErrorCode.NOTIFICATION_TOO_LONG
    with pytest.raises(ValueError, match="template name"):
        services.queue_sms(to="0712345678", template="../secrets", context={}, key="t")
    assert not OutboxMessage.objects.exists()


@override_settings(SMS_BACKEND="off", EMAIL_ENABLED=False)
def test_a_switched_off_channel_queues_nothing_but_still_checks_the_recipient() -> None:
    assert _check_sms() is None
    with pytest.raises(InvalidInput):
        _check_sms(to="not a number")
    assert (
        services.queue_email(
            to="ops@example.com", template="configuration_check", context=CONTEXT, key="e"
        )
        is None
    )
    with pytest.raises(DomainError) as bad:
        services.queue_email(to="nobody", template="configuration_check", context={}, key="e")
    assert bad.value.code == NotificationErrorCode.EMAIL_ADDRESS_INVALID
    assert not OutboxMessage.objects.exists()


@override_settings(SMS_BACKEND="file")
def test_a_message_queued_in_a_rolled_back_transaction_is_not_sent() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        _check_sms()
        raise RuntimeError("the sale failed")
    assert not OutboxMessage.objects.exists()


@override_settings(
    EMAIL_ENABLED=True, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
)
@pytest.mark.parametrize(
    ("language", "subject", "body", "direction"),
    [
        ("en", "Demo Power & Light: a test message", "This is a test message", "ltr"),
        ("ar", "Demo Power & Light: رسالة اختبار", "هذه رسالة اختبار", "rtl"),
        ("zh-hans", "Demo Power & Light：测试消息", "这是来自", "ltr"),
    ],
)
def test_an_email_is_rendered_in_its_language_and_delivered_with_a_stable_message_id(
    language: str, subject: str, body: str, direction: str
) -> None:
    row = services.queue_email(
        to=["ops@example.com", "finance@example.com"],
        template="configuration_check",
        context=CONTEXT,
        key=f"check-{language}",
        language=language,
    )
    assert row is not None and row.payload["subject"] == subject
    assert body in row.payload["text"]
    assert f'dir="{direction}"' in row.payload["html"]
    assert "Demo Power &amp; Light" in row.payload["html"], "the HTML part is escaped"
    mail.outbox.clear()
    assert outbox.drain(kinds=["email"]) == {"sent": 1}
    [sent] = mail.outbox
    assert sent.subject == subject and sent.to == ["ops@example.com", "finance@example.com"]
    assert sent.extra_headers["Message-ID"].startswith("<")
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.receipt == sent.extra_headers["Message-ID"]


@override_settings(EMAIL_ENABLED=True)
def test_email_recipients_are_checked() -> None:
    for to in ([], ["a@example.com"] * 11, "two@@example.com", ["ok@example.com", "x" * 300]):
        with pytest.raises(DomainError):
            services.queue_email(to=to, template="configuration_check", context={}, key="r")
    assert not OutboxMessage.objects.exists()


def test_the_file_backend_writes_one_file_per_message_whole(tmp_path: Path) -> None:
    backend = FileSmsBackend(tmp_path / "sms")
    backend.send(Sms(to="+254712345678", text="first", key="sms:a"))
    backend.send(Sms(to="+254712345679", text="second", key="sms:b"))
    # The same message delivered again (a worker died after writing it) is the same file.
    backend.send(Sms(to="+254712345678", text="first", key="sms:a"))
    files = sorted((tmp_path / "sms").iterdir())
    assert len(files) == 2
    texts = sorted(f.read_text() for f in files)
    assert texts[0].startswith("To: +254712345678\nKey: sms:a\n\nfirst")
    assert not list((tmp_path / "sms").glob(".*.tmp"))


def test_the_console_backend_prints_the_message() -> None:
    out = StringIO()
    ConsoleSmsBackend(out).send(Sms(to="+254712345678", text="hello", key="sms:c"))
    assert "SMS to +254712345678" in out.getvalue() and "hello" in out.getvalue()


def test_an_arabic_message_keeps_numbers_left_to_right() -> None:
    from gridvend.notifications.rendering import isolate

    assert isolate("0412 3456", "ar") == f"{LRI}0412 3456{PDI}"
    assert isolate("0412 3456", "en") == "0412 3456"
    text = render_sms("configuration_check", CONTEXT, "ar")
    assert text.startswith("Demo Power & Light: رسالة اختبار")


@override_settings(SMS_BACKEND="off")
def test_a_message_queued_before_sms_was_switched_off_fails_with_the_reason() -> None:
    with override_settings(SMS_BACKEND="file"):
        row = _check_sms()
    assert row is not None
    assert outbox.drain(kinds=["sms"]) == {"failed": 1}
    row.refresh_from_db()
    assert "switched off" in row.last_error


def test_gridvend_notify_sends_a_test_sms_now_and_reports_it(tmp_path: Path) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    with override_settings(SMS_BACKEND="file", SMS_FILE_DIR=tmp_path, EMAIL_ENABLED=False):
        call_command("notify", "--sms", "0712 345 678", "--language", "ar", "--now", stdout=out)
        text = out.getvalue()
        assert "Queued SMS" in text and ": sent" in text
        assert "رسالة اختبار" in next(tmp_path.glob("*.sms")).read_text()
        with pytest.raises(CommandError, match="give --sms"):
            call_command("notify", stdout=StringIO())
        with pytest.raises(CommandError, match="not a phone number"):
            call_command("notify", "--sms", "call me", stdout=StringIO())
        out = StringIO()
        call_command("notify", "--email", "ops@example.com", stdout=out)
        assert "e-mail is switched off" in out.getvalue()
