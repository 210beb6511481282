"""A test double of the master's station API on a real loopback HTTP server: it checks each
request's Ed25519 signature, verifies uploaded entries with ``protocol.read_entry`` and their
chain, keeps its answer per batch id (a batch sent again is applied once) and signs every answer
over the request's nonce, as docs/stations.md lays out. It stands in for the master's views,
which another part builds; the station's code under test talks to it over real sockets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from django.utils import timezone

from gridvend.stations import protocol

API = "/station-api/v1/"


@dataclass
class MasterDouble:
    station: str
    station_public_hex: str
    key: protocol.KeyPair
    # What the master holds of the station's journal: its entries, in order.
    applied: list[protocol.ReadEntry] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)  # batch ids, in the order they came
    status: str = "active"
    allowance: dict[str, str] | None = None
    # "ok"; "drop": apply the batch, then cut the connection without answering; "refuse": a
    # signed refusal; "unsigned": an answer with a signature that does not verify.
    mode: str = "ok"
    changes_calls: int = 0
    # Sent with every answer (a relay's ``X-Relay-Key``, say).
    headers: dict[str, str] = field(default_factory=dict)
    bad_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def last_seq(self) -> int:
        return self.applied[-1].seq if self.applied else 0

    @property
    def last_hash(self) -> str:
        return self.applied[-1].entry_hash if self.applied else ""

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any] | None:
        try:
            protocol.verify(
                self.station_public_hex,
                protocol.request_message(
                    method,
                    path,
                    headers.get(protocol.HEADER_TIME, ""),
                    headers.get(protocol.HEADER_NONCE, ""),
                    body,
                ),
                headers.get(protocol.HEADER_SIGNATURE, ""),
            )
        except protocol.BadSignature:
            self.bad_requests += 1
            return 403, _error("STATION_AUTH_FAILED", "bad signature")
        if headers.get(protocol.HEADER_STATION) != self.station:
            return 403, _error("STATION_UNKNOWN", "unknown station")
        name = urlparse(path).path.removeprefix(API)
        if method == "GET" and name == "status":
            return 200, {
                "status": self.status,
                "reason": "",
                "allowance": self.allowance,
                "last_seq": self.last_seq,
                "last_hash": self.last_hash,
                "server_time": protocol.utc_text(timezone.now()),
            }
        if method == "GET" and name == "changes":
            self.changes_calls += 1
            return 200, {"cursor_to": 0, "more": False, "changes": [], "server_time": ""}
        if method == "POST" and name == "batches":
            with self.lock:
                return self._batch(json.loads(body))
        return 404, _error("NOT_FOUND", name)

    def _batch(self, data: dict[str, Any]) -> tuple[int, Any] | None:
        batch_id = data["batch_id"]
        self.received.append(batch_id)
        if self.mode == "refuse":
            return 409, _error("STATION_JOURNAL_REJECTED", "entry 1 does not continue the chain")
        if batch_id in self.answers:
            return 200, self.answers[batch_id]
        entries = [
            protocol.read_entry(wire, public_hex=self.station_public_hex)
            for wire in data["entries"]
        ]
        prev, seq = self.last_hash or protocol.GENESIS, self.last_seq
        for entry in entries:
            if entry.seq != seq + 1 or entry.prev != prev or entry.station != self.station:
                return 409, _error("STATION_JOURNAL_REJECTED", f"entry {entry.seq} breaks")
            prev, seq = entry.entry_hash, entry.seq
        self.applied.extend(entries)
        answer = {
            "status": "applied",
            "batch_id": batch_id,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "conflicts": [],
        }
        self.answers[batch_id] = answer
        if self.mode == "drop":
            return None
        return 200, answer


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "params": {}}}


@contextmanager
def serving(double: MasterDouble) -> Iterator[str]:
    """The double on a loopback port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            outcome = double.handle(self.command, self.path, self.headers, body)
            if outcome is None:
                # The master applied the batch and the link broke before its answer left.
                self.close_connection = True
                return
            status, data = outcome
            raw = protocol.canonical(data).encode("utf-8")
            nonce = self.headers.get(protocol.HEADER_NONCE, "")
            signature = protocol.sign(double.key.seed, protocol.answer_message(nonce, raw))
            if double.mode == "unsigned":
                signature = "0" * 128
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header(protocol.HEADER_MASTER_SIGNATURE, signature)
            for name, value in double.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
