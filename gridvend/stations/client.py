"""The station's side of the link: signed requests to the master (or to the relay above it)
and answers checked against the master's public key. A link that is down (no connection, a
timeout, a 5xx, an answer whose signature does not verify) raises ``LinkDown``; a refusal the
master signed raises ``Refused`` with its stable code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests
from django.utils import timezone

from gridvend.stations import protocol

TIMEOUT_SECONDS = 30.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class LinkDown(Exception):
    """The master could not be reached or its answer cannot be trusted: try again later."""


class UpstreamError(LinkDown):
    """The next hop was reached and answered 5xx: it may fail on this one request only (a relay
    forwarding one station's batch the master cannot take), not on every request."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the master answered {status}")
        self.status = status


class Refused(Exception):
    """The master refused the request (a signed refusal with a stable code)."""

    def __init__(self, code: str, message: str, status: int, params: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.params = params


class UpstreamKeys(Protocol):
    """Checks the master's statement of a relay's new key (``services.upstream_key``)."""

    def vouched(self, header: str) -> protocol.RelayKey: ...

    def adopt(self, statement: protocol.RelayKey) -> None: ...

    def learn(self, header: str, trusted_key: str) -> None: ...


@dataclass
class MasterClient:
    base_url: str  # e.g. "https://master.example/" (the API is under station-api/v1/)
    station: str
    seed: bytes
    master_public_hex: str
    timeout: float = TIMEOUT_SECONDS
    # Under a relay: how an answer signed with a key not yet trusted may be vouched for by the
    # master's statement (``X-Relay-Key``) after the relay enrolled again.
    upstream_keys: UpstreamKeys | None = None

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        query = "&".join(f"{k}={requests.utils.quote(v)}" for k, v in (params or {}).items())
        return self._send("GET", path + (f"?{query}" if query else ""), b"")

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", path, protocol.canonical(data).encode("utf-8"))

    def _send(self, method: str, path_and_query: str, body: bytes) -> dict[str, Any]:
        url = self.base_url.rstrip("/") + "/station-api/v1/" + path_and_query.lstrip("/")
        parsed = requests.utils.urlparse(url)
        # The path with its query string, as the master reads it: both are signed.
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        stamp = protocol.utc_text(timezone.now())
        nonce = protocol.new_nonce()
        headers = {
            protocol.HEADER_STATION: self.station,
            protocol.HEADER_TIME: stamp,
            protocol.HEADER_NONCE: nonce,
            protocol.HEADER_SIGNATURE: protocol.sign(
                self.seed, protocol.request_message(method, path, stamp, nonce, body)
            ),
            "Content-Type": "application/json",
        }
        try:
            reply = requests.request(
                method, url, data=body or None, headers=headers, timeout=self.timeout, stream=True
            )
            raw = reply.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        except requests.RequestException as failed:
            raise LinkDown(f"{type(failed).__name__}: {failed}") from failed
        if len(raw) > MAX_ANSWER_BYTES:
            raise LinkDown("the answer is larger than the client reads")
        if reply.status_code >= 500:
            raise UpstreamError(reply.status_code)
        self._check_signature(reply.headers, protocol.answer_message(nonce, raw))
        try:
            data = protocol.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as unreadable:
            raise LinkDown("the master's answer is not JSON") from unreadable
        if not isinstance(data, dict):
            raise LinkDown("the master's answer is not an object")
        if reply.status_code >= 400:
            found = data.get("error")
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            params = error.get("params")
            raise Refused(
                str(error.get("code", "UNKNOWN"))[:60],
                str(error.get("message", ""))[:500],
                reply.status_code,
                params if isinstance(params, dict) else {},
            )
        return data

    def _check_signature(self, headers: Any, message: bytes) -> None:
        self.master_public_hex = check_answer_signature(
            headers, message, trusted=self.master_public_hex, upstream_keys=self.upstream_keys
        )


def check_answer_signature(
    headers: Any, message: bytes, *, trusted: str, upstream_keys: UpstreamKeys | None
) -> str:
    """The answer is signed with the upstream's ``trusted`` key, or with a relay's new key the
    master vouches for (``X-Relay-Key``; adopted through ``upstream_keys``); otherwise the link
    counts as down. Returns the key trusted from now on. Every call that reads an answer from
    upstream goes through here: the client's, and a relay passing a station's request up."""
    signature = headers.get(protocol.HEADER_MASTER_SIGNATURE, "")
    statement_header = headers.get(protocol.HEADER_RELAY_KEY, "")
    try:
        protocol.verify(trusted, message, signature)
    except protocol.BadSignature as bad:
        if upstream_keys is None or not statement_header:
            raise LinkDown(f"the answer is not signed by the master: {bad}") from bad
        statement = upstream_keys.vouched(statement_header)
        try:
            protocol.verify(statement.public_key, message, signature)
        except protocol.BadSignature as unsigned:
            raise LinkDown(
                f"the answer is not signed by the key the master vouches for: {unsigned}"
            ) from unsigned
        upstream_keys.adopt(statement)
        return statement.public_key
    if upstream_keys is not None and statement_header:
        upstream_keys.learn(statement_header, trusted)
    return trusted
