"""A test double of the master's station API on a real loopback HTTP server: it checks each
request's Ed25519 signature, verifies uploaded entries with ``protocol.read_entry`` and their
chain, keeps its answer per batch id (a batch sent again is applied once) and signs every answer
over the request's nonce, as docs/stations.md lays out. It stands in for the master's views,
which another part builds; the station's code under test talks to it over real sockets."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from Crypto.Cipher import AES
from django.utils import timezone

from gridvend.keys import crypto
from gridvend.stations import protocol
from gridvend.stations.client import MasterClient
from gridvend.stations.models import LocalStation
from gridvend.stations.services import enrolment, vending_keys

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

    def check_request(self, method: str, path: str, headers: Any, body: bytes) -> None:
        """Raises BadSignature unless the station's key signed this request."""
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

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any] | None:
        try:
            self.check_request(method, path, headers, body)
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


def sealed_item(key: bytes, station: str, key_ref: str, secret: bytes) -> dict[str, str]:
    """One vending key sealed under ``key`` as the master seals it for ``station``."""
    nonce = secrets.token_bytes(12)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(enrolment.vending_key_aad(station, key_ref))
    ciphertext, tag = cipher.encrypt_and_digest(secret)
    return {
        "key_ref": key_ref,
        "dkga": "02",
        "sta_tables": "real",
        "description": "added later",
        "check_value": crypto.check_value(secret),
        "nonce": nonce.hex(),
        "ciphertext": ciphertext.hex(),
        "tag": tag.hex(),
    }


@dataclass
class KeyingDouble(MasterDouble):
    """The master double, also answering ``POST vending-keys`` with the keys it holds, sealed
    for the station and vouched for by its signed statement, as the master does (``wrong``:
    sealed under another agreement)."""

    held_here: dict[str, bytes] = field(default_factory=dict)
    asked: list[dict[str, Any]] = field(default_factory=list)
    wrong: bool = False

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any] | None:
        if not (method == "POST" and urlparse(path).path.endswith("/vending-keys")):
            return super().handle(method, path, headers, body)
        self.check_request(method, path, headers, body)
        data = json.loads(body)
        self.asked.append(data)
        own = enrolment.new_exchange_key()
        theirs = enrolment.exchange_public_hex(enrolment.new_exchange_key())
        shared = enrolment.shared_secret(own, theirs if self.wrong else data["exchange_key"])
        key = vending_keys.delivery_key(shared=shared, station_code=self.station)
        wrapped = [
            sealed_item(key, self.station, key_ref, secret)
            for key_ref, secret in self.held_here.items()
            if key_ref not in data["held"]
        ]
        mine = enrolment.exchange_public_hex(own)
        statement = protocol.make_vending_keys_statement(
            seed=self.key.seed,
            station=self.station,
            station_exchange_key=data["exchange_key"],
            master_exchange_key=mine,
            vending_keys=wrapped,
        )
        return 200, {"exchange_key": mine, "vending_keys": wrapped, "statement": statement}


@dataclass
class RelayDouble(MasterDouble):
    """A business-unit relay between the station and ``upstream_url``, as ``vending_keys.
    pass_up`` runs one: the station's signed request passed up unchanged, the upstream's answer
    checked against ``upstream_public_hex`` and signed again with the relay's ``key``. A rogue
    one (``substitute``) agrees a key of its own with the station and seals ``forged`` vending
    keys under it: ``"keys"`` keeps the master's statement, ``"statement"`` signs one itself,
    ``"items"`` keeps the master's exchange key and statement but swaps the sealed items."""

    upstream_url: str = ""
    upstream_public_hex: str = ""
    substitute: str = ""
    forged: dict[str, bytes] = field(default_factory=dict)

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any] | None:
        passed = {
            name: headers.get(name, "")
            for name in (
                protocol.HEADER_STATION,
                protocol.HEADER_TIME,
                protocol.HEADER_NONCE,
                protocol.HEADER_SIGNATURE,
            )
        }
        reply = requests.request(
            method,
            self.upstream_url.rstrip("/") + path,
            data=body or None,
            headers={**passed, "Content-Type": "application/json"},
            timeout=30,
        )
        protocol.verify(
            self.upstream_public_hex,
            protocol.answer_message(passed[protocol.HEADER_NONCE], reply.content),
            reply.headers.get(protocol.HEADER_MASTER_SIGNATURE, ""),
        )
        answer = json.loads(reply.content)
        if self.substitute and urlparse(path).path.endswith("/vending-keys"):
            answer = self._forge(json.loads(body), answer)
        return reply.status_code, answer

    def _forge(self, request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        station = self.station
        own = enrolment.new_exchange_key()
        shared = enrolment.shared_secret(own, request["exchange_key"])
        key = vending_keys.delivery_key(shared=shared, station_code=station)
        forged = [sealed_item(key, station, ref, secret) for ref, secret in self.forged.items()]
        mine = enrolment.exchange_public_hex(own)
        if self.substitute == "items":
            return {**answer, "vending_keys": forged}
        if self.substitute == "statement":
            answer["statement"] = protocol.make_vending_keys_statement(
                seed=self.key.seed,
                station=station,
                station_exchange_key=request["exchange_key"],
                master_exchange_key=mine,
                vending_keys=forged,
            )
        return {**answer, "exchange_key": mine, "vending_keys": forged}


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


@contextmanager
def served_to_station(double: MasterDouble) -> Iterator[str]:
    """The double on a loopback port, and this station's master URL pointing at it."""
    with serving(double) as base:
        LocalStation.objects.filter(pk=1).update(master_url=base)
        yield base


def stand_in_pull(monkeypatch: pytest.MonkeyPatch) -> list[MasterClient]:
    """Down-sync is another part (stations.services.pull, tested in test_pull): the smallest
    honest stand-in asks for one page of changes over the same signed link. The clients it
    was called with, in order."""
    calls: list[MasterClient] = []

    def pull_changes(client: MasterClient) -> dict[str, Any]:
        calls.append(client)
        return client.get("changes", {"cursor": "0", "limit": "500"})

    module = types.ModuleType("gridvend.stations.services.pull")
    module.pull_changes = pull_changes  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gridvend.stations.services.pull", module)
    return calls
