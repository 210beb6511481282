"""A customer's phone played against a running gridvend over HTTP, as the networks would reach
it: USSD hops as Africa's Talking posts them, an SMS to the short code, a paybill payment made
on the sandbox Daraja (which sends gridvend the C2B confirmation), and the SMS the phone
received (read from the file SMS backend's directory). Used by `gridvend phone` and its tests."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from gridvend.phone.common import callback_urls

MAX_REPLY_BYTES = 64 * 1024
TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def _post(url: str, data: bytes, content_type: str) -> Answer:
    request = urllib.request.Request(  # noqa: S310 (an address the operator gave)
        url, data=data, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:  # noqa: S310
            return Answer(reply.status, reply.read(MAX_REPLY_BYTES).decode("utf-8", "replace"))
    except urllib.error.HTTPError as refused:
        return Answer(refused.code, refused.read(MAX_REPLY_BYTES).decode("utf-8", "replace"))


def new_session_id() -> str:
    return f"ATUid_{secrets.token_hex(12)}"


@dataclass
class Phone:
    """One phone (E.164 number) talking to gridvend at ``server`` (its base URL)."""

    number: str
    server: str
    network_code: str = "63902"

    def _url(self, name: str) -> str:
        return self.server.rstrip("/") + urlsplit(callback_urls()[name]).path

    def hop(self, session_id: str, code: str, text: str) -> Answer:
        form = {
            "sessionId": session_id,
            "serviceCode": code,
            "phoneNumber": self.number,
            "networkCode": self.network_code,
            "text": text,
        }
        return _post(
            self._url("ussd"), urlencode(form).encode(), "application/x-www-form-urlencoded"
        )

    def dial(self, code: str, entries: list[str]) -> Iterator[tuple[str, Answer]]:
        """A session keying ``entries`` one a hop (the first hop carries no text); yields each
        text sent and the screen, and stops at an ``END`` screen."""
        session_id = new_session_id()
        keyed: list[str] = []
        for entry in [None, *entries]:
            if entry is not None:
                keyed.append(entry)
            text = "*".join(keyed)
            answer = self.hop(session_id, code, text)
            yield text, answer
            if not answer.body.startswith("CON "):
                return

    def sms(self, text: str, *, to: str) -> Answer:
        form = {
            "id": f"ATXid_{secrets.token_hex(12)}",
            "text": text,
            "from": self.number,
            "to": to,
            "date": "",
            "linkId": "",
            "networkCode": self.network_code,
        }
        return _post(
            self._url("sms-inbound"),
            urlencode(form).encode(),
            "application/x-www-form-urlencoded",
        )

    def pay_bill(self, *, sandbox: str, account: str, amount: int) -> Answer:
        from gridvend.gateways.mobilemoney.sandbox import PHONE_PAYBILL_PATH

        body = {"phone": self.number.lstrip("+"), "account": account, "amount": amount}
        return _post(
            sandbox.rstrip("/") + PHONE_PAYBILL_PATH, json.dumps(body).encode(), "application/json"
        )


@dataclass(frozen=True)
class Received:
    path: Path
    key: str
    text: str


def inbox(directory: Path, number: str) -> list[Received]:
    """The messages the file SMS backend wrote for ``number``, oldest first."""
    found = []
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.sms"), key=lambda p: (p.stat().st_mtime, p.name)):
        head, _sep, text = path.read_text(encoding="utf-8", errors="replace").partition("\n\n")
        fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        if fields.get("To") == number:
            found.append(Received(path, fields.get("Key", ""), text.rstrip("\n")))
    return found
