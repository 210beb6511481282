"""E-mail through Django's mail backend of the settings (console, file or SMTP), one message
per connection, with its outcome sorted into "refused for good" and "try again later"."""

from __future__ import annotations

import hashlib
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from gridvend.jobs.outbox import PermanentFailure, RetryLater


@dataclass(frozen=True)
class Email:
    to: Sequence[str]
    subject: str
    text: str
    html: str
    key: str
    # (file name, content, content type) of each file sent with the message.
    attachments: Sequence[tuple[str, bytes, str]] = ()


def message_id(key: str) -> str:
    """The same Message-ID for every delivery of one outbox message, so that a mail system
    that sees it twice (a worker died after the server took it) can tell."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def _code_of(exc: smtplib.SMTPResponseException) -> int:
    return int(exc.smtp_code) if isinstance(exc.smtp_code, int) else 0


def send_email(email: Email) -> str:
    """Send through the configured backend; returns the Message-ID."""
    ident = message_id(email.key)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(email.to),
        headers={"Message-ID": ident},
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    for name, content, content_type in email.attachments:
        message.attach(name, content, content_type)
    connection = get_connection(fail_silently=False)
    try:
        connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        detail = "; ".join(
            f"{address}: {code} {text.decode('utf-8', 'replace')[:120]}"
            for address, (code, text) in exc.recipients.items()
        )
        if codes and all(code >= 500 for code in codes):
            raise PermanentFailure(f"the mail server refused every recipient: {detail}") from None
        raise RetryLater(f"the mail server deferred the recipients: {detail}") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise PermanentFailure(
            f"the mail server refused the sign-in ({_code_of(exc)}): check GRIDVEND_EMAIL_USER "
            "and GRIDVEND_EMAIL_PASSWORD"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentFailure(f"the mail server does not support what is asked: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        # SMTPSenderRefused, SMTPDataError and the rest: 5xx is final, 4xx is "later".
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        detail = f"the mail server answered {_code_of(exc)} {text[:200]}"
        if _code_of(exc) >= 500:
            raise PermanentFailure(detail) from None
        raise RetryLater(detail) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryLater(f"the mail server was not reached: {type(exc).__name__}: {exc}") from None
    return ident
