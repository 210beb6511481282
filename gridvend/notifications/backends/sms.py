"""SMS backends: each sends one message and returns the gateway's message id, or raises
``PermanentFailure`` (the gateway will never take it as it is) or ``RetryLater``.

- ``console``: prints the message (development; the demo's worker shows it in its terminal).
- ``file``: one file per message in a directory, named after the message's key, so that a
  second delivery of the same message writes the same file (tests, demos, a site without a
  gateway whose staff forward messages by hand).
- ``africastalking``: Africa's Talking's bulk SMS API (CHANNELS.md §1.6): a form POST with the
  ``apiKey`` header; the JSON answer has a status per recipient.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol
from urllib.parse import urlencode

from gridvend.jobs.outbox import PermanentFailure, RetryLater

# The most of a gateway's answer that is read; a longer one is not an answer we understand.
MAX_ANSWER_BYTES = 64 * 1024
# The longest wait a gateway's Retry-After is taken for.
MAX_RETRY_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class Sms:
    """One message: ``to`` in E.164, ``key`` the outbox key (unique per message)."""

    to: str
    text: str
    key: str


class SmsBackend(Protocol):
    def send(self, sms: Sms) -> str | None: ...


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class ConsoleSmsBackend:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def send(self, sms: Sms) -> str | None:
        out = self.stream or sys.stdout
        out.write(f"--- SMS to {sms.to} ({sms.key})\n{sms.text}\n---\n")
        out.flush()
        return None


class FileSmsBackend:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, sms: Sms) -> str | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{key_digest(sms.key)}.sms"
        body = f"To: {sms.to}\nKey: {sms.key}\n\n{sms.text}\n"
        # Written whole or not at all: a reader never sees half a message.
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(body)
            os.replace(temporary, self.directory / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name


# Africa's Talking's per-recipient status codes (CHANNELS.md §1.6). 100-102 are accepted;
# these are refusals that no retry changes (the number, the sender id, the route, the
# customer's own choice); the others (401 RiskHold, 405 InsufficientBalance, 500 and 501) may
# clear by themselves, so they are retried.
AT_ACCEPTED = frozenset({100, 101, 102})
AT_PERMANENT = frozenset({402, 403, 404, 406, 407, 409, 502})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A gateway that redirects a POST is misconfigured; following would resend the form
    # (or, for 301/302, turn it into a GET without it).
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _excerpt(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(headers: Message | None) -> int | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value and value.strip().isdigit() and len(value.strip()) <= 6:
        return min(int(value.strip()), MAX_RETRY_AFTER_SECONDS)
    return None


class AfricasTalkingSmsBackend:
    def __init__(
        self, *, url: str, username: str, api_key: str, sender_id: str, timeout: float
    ) -> None:
        self.url = url
        self.username = username
        self.api_key = api_key
        self.sender_id = sender_id
        self.timeout = timeout
        # Proxies from the environment (HTTPS_PROXY) are honoured, as on most utility networks.
        self._opener = urllib.request.build_opener(_NoRedirects())

    def send(self, sms: Sms) -> str | None:
        form = {"username": self.username, "to": sms.to, "message": sms.text}
        if self.sender_id:
            form["from"] = self.sender_id
        # The URL is http(s) only: settings.SMS_AT_URL is checked when the settings load.
        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=urlencode(form).encode(),
            method="POST",
            headers={
                "apiKey": self.api_key,
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "gridvend",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = response.status
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read(MAX_ANSWER_BYTES + 1)
            except OSError:
                raw = b""
            self._refused_with(exc.code, raw, exc.headers)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # Connection refused or reset, a time-out, DNS, TLS: the gateway was not reached,
            # or its answer did not arrive. (A message the gateway took before the answer was
            # lost is sent again: Africa's Talking takes no key to recognise it by.)
            reason = getattr(exc, "reason", exc)
            raise RetryLater(f"Africa's Talking not reached: {reason}") from None
        if not 200 <= status < 300:
            self._refused_with(status, raw, None)
        return self._accepted(raw)

    def _refused_with(self, status: int, raw: bytes, headers: Message | None) -> NoReturn:
        detail = f"Africa's Talking answered HTTP {status}: {_excerpt(raw)}"
        if status in (401, 403):
            raise PermanentFailure(
                f"{detail} (check GRIDVEND_SMS_AT_USERNAME and GRIDVEND_SMS_AT_API_KEY)"
            )
        if status in (408, 425, 429) or status >= 500:
            raise RetryLater(detail, after_seconds=_retry_after(headers))
        raise PermanentFailure(detail)

    def _accepted(self, raw: bytes) -> str:
        if len(raw) > MAX_ANSWER_BYTES:
            raise RetryLater("Africa's Talking's answer is too long to be one")
        try:
            data = json.loads(raw.decode("utf-8"))
            block = data["SMSMessageData"]
            recipients = block.get("Recipients") or []
            summary = str(block.get("Message", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RetryLater(
                f"Africa's Talking's answer is not understood: {_excerpt(raw)}"
            ) from None
        if not isinstance(recipients, list) or not recipients:
            # A refused request: no recipient, and the reason as the message (InvalidSenderId).
            raise PermanentFailure(f"Africa's Talking sent nothing: {summary[:200]}")
        first = recipients[0] if isinstance(recipients[0], dict) else {}
        code = first.get("statusCode")
        status = str(first.get("status", ""))[:60]
        if not isinstance(code, int):
            raise RetryLater(f"Africa's Talking's answer has no status code: {_excerpt(raw)}")
        if code in AT_ACCEPTED:
            return str(first.get("messageId", ""))[:200] or status
        message = f"Africa's Talking refused the message: {code} {status}"
        if code in AT_PERMANENT:
            raise PermanentFailure(message)
        raise RetryLater(message)


def configured_backend() -> SmsBackend | None:
    """The backend GRIDVEND_SMS_BACKEND names, or None when SMS is off."""
    from django.conf import settings

    choice = settings.SMS_BACKEND
    if choice == "console":
        return ConsoleSmsBackend()
    if choice == "file":
        return FileSmsBackend(Path(settings.SMS_FILE_DIR))
    if choice == "africastalking":
        return AfricasTalkingSmsBackend(
            url=settings.SMS_AT_URL,
            username=settings.SMS_AT_USERNAME,
            api_key=settings.SMS_AT_API_KEY,
            sender_id=settings.SMS_SENDER_ID,
            timeout=settings.SMS_TIMEOUT_SECONDS,
        )
    return None
