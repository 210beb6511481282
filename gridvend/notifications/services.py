"""Queueing SMS and e-mail: call these inside the business transaction (the message commits or
rolls back with the change), then the worker sends it. Queueing never waits for a gateway and
a gateway that is down never fails the change: the message is retried.

Each message is rendered now, in its language, from its template; ``key`` makes it once-only
(queueing the same key again returns the first message: "the token SMS of sale X" is sent once
however often it is asked for). When the channel is switched off in the settings
(GRIDVEND_SMS_BACKEND or GRIDVEND_EMAIL_BACKEND ``off``) nothing is queued and None is returned;
the recipient is checked all the same.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.inputs import InvalidInput
from gridvend.kernel.phones import parse_phone
from gridvend.notifications.delivery import EMAIL_KIND, SMS_KIND
from gridvend.notifications.errors import EmailAddressInvalid, NotificationTooLong
from gridvend.notifications.rendering import language_code, render_email, render_sms

# Ten segments of a Unicode SMS (67 characters each once concatenated): gateways take longer
# messages, but phones show them badly and each segment is paid for.
MAX_SMS_CHARACTERS = 670
MAX_EMAIL_RECIPIENTS = 10
MAX_EMAIL_CHARACTERS = 100_000
# Files sent with an e-mail travel in the outbox payload (at most 256 kB of JSON), base64
# encoded: a third larger than the file.
MAX_ATTACHMENT_BYTES = 150_000
# The outbox key is "sms:" or "email:" and the caller's key.
MAX_KEY_LENGTH = outbox.KEY_MAX_LENGTH - 6


def _key(prefix: str, key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValueError(f"a message key is 1 to {MAX_KEY_LENGTH} printable characters")
    return f"{prefix}:{key}"


def queue_sms(
    *,
    to: str,
    template: str,
    context: Mapping[str, Any],
    key: str,
    language: str | None = None,
) -> OutboxMessage | None:
    """Queue an SMS to ``to`` (any way a person writes a number; stored E.164) rendered from
    ``notifications/sms/<template>.txt`` in ``language`` (the utility's default if None).

    Raises InvalidInput for a number that is not one, NotificationLanguageUnsupported and
    NotificationTooLong; returns the outbox row, or None when SMS is off.
    """
    number = parse_phone(to, region=settings.DEFAULT_COUNTRY, field="to")
    if not number:
        raise InvalidInput(reason="required", field="to")
    code = language_code(language)
    outbox_key = _key(SMS_KIND, key)
    if settings.SMS_BACKEND == "off":
        return None
    text = render_sms(template, context, code)
    if len(text) > MAX_SMS_CHARACTERS:
        raise NotificationTooLong(length=len(text), maximum=MAX_SMS_CHARACTERS)
    return outbox.put(
        kind=SMS_KIND,
        key=outbox_key,
        payload={"to": number, "text": text, "language": code, "template": template},
    )


def _addresses(to: str | Sequence[str]) -> list[str]:
    given = [to] if isinstance(to, str) else list(to)
    if not given:
        raise InvalidInput(reason="required", field="to")
    if len(given) > MAX_EMAIL_RECIPIENTS:
        raise InvalidInput(reason="above_maximum", field="to", maximum=MAX_EMAIL_RECIPIENTS)
    cleaned = []
    for address in given:
        text = str(address).strip()
        try:
            if len(text) > 254:
                raise ValidationError("too long")
            validate_email(text)
        except ValidationError:
            raise EmailAddressInvalid(address=text[:254]) from None
        cleaned.append(text)
    return cleaned


def queue_email(
    *,
    to: str | Sequence[str],
    template: str,
    context: Mapping[str, Any],
    key: str,
    language: str | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
) -> OutboxMessage | None:
    """Queue an e-mail to ``to`` (one address or up to ten) rendered from
    ``notifications/email/<template>.subject.txt``, ``.txt`` and (if present) ``.html``, with
    ``attachments`` ((file name, content, content type), at most MAX_ATTACHMENT_BYTES in all).

    Raises EmailAddressInvalid, InvalidInput (no recipient, too many),
    NotificationLanguageUnsupported and NotificationTooLong; returns the outbox row, or None
    when e-mail is off.
    """
    addresses = _addresses(to)
    code = language_code(language)
    outbox_key = _key(EMAIL_KIND, key)
    if not settings.EMAIL_ENABLED:
        return None
    rendered = render_email(template, context, code)
    length = len(rendered.text) + len(rendered.html)
    if length > MAX_EMAIL_CHARACTERS:
        raise NotificationTooLong(length=length, maximum=MAX_EMAIL_CHARACTERS)
    if sum(len(content) for _name, content, _type in attachments) > MAX_ATTACHMENT_BYTES:
        raise ValueError(f"attachments are at most {MAX_ATTACHMENT_BYTES} bytes in all")
    return outbox.put(
        kind=EMAIL_KIND,
        key=outbox_key,
        payload={
            "to": addresses,
            "subject": rendered.subject[:200],
            "text": rendered.text,
            "html": rendered.html,
            "language": code,
            "template": template,
            "attachments": [
                {
                    "name": name,
                    "content_type": content_type,
                    "content": base64.b64encode(content).decode("ascii"),
                }
                for name, content, content_type in attachments
            ],
        },
    )
