"""The station protocol's cryptography and canonical forms, without the database.

- **Canonical JSON**: UTF-8, keys sorted, no spaces (``,`` and ``:``), no NaN, integers for money
  (minor units) and strings for decimals and times (ISO 8601 UTC with ``Z``). What is hashed or
  signed is always these exact bytes, stored as text beside the hash.
- **Keys**: Ed25519 (RFC 8032), 32-byte seeds and public keys, written as lowercase hex.
- **Journal entry**: body = canonical JSON of ``{"station", "seq", "kind", "occurred_at", "prev",
  "data"}``; ``entry_hash`` = SHA-256 of the body (hex); ``signature`` = Ed25519 over the 32 raw
  bytes of the hash. ``prev`` is the previous entry's hash (64 zeros for the first), so an entry
  edited, removed, inserted or moved breaks the chain.
- **Allowance**: payload = canonical JSON of ``{"type": "gridvend.allowance", "station",
  "sequence", "ceiling_minor", "currency", "valid_from", "valid_until", "issued_at"}`` signed by
  the master's key over the payload's bytes.
- **Requests**: the station signs ``METHOD\\nPATH[?QUERY]\\nTIMESTAMP\\nNONCE\\nSHA256(BODY)``
  (headers ``X-Station``, ``X-Station-Time``, ``X-Station-Nonce``, ``X-Station-Signature``); the
  master signs its answer ``NONCE\\nSHA256(BODY)`` (header ``X-Master-Signature``), so an answer
  cannot be forged on the way or replayed for another request.
- **Relay key statement**: payload = canonical JSON of ``{"type": "gridvend.relay_key",
  "relay", "public_key", "valid_from", "sequence"}`` signed by the master's key over the
  payload's bytes: "relay R signs with key K from this time, its n-th enrolment". A relay
  enrolled again (its disk lost) sends it with every answer (header ``X-Relay-Key``, base64 of
  the canonical JSON ``{payload, signature}``), so the stations below it can take its new key.
- **Vending keys statement** (in a ``POST vending-keys`` answer, ``statement``): payload =
  canonical JSON of ``{"type": "gridvend.vending_keys", "station", "station_exchange_key",
  "master_exchange_key", "vending_keys_sha256"}`` signed by the master's key: "these sealed keys,
  under this agreement, for this station's request". A relay re-signs the answer but passes
  this down unchanged, so the station checks the master's own word end to end.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nacl.exceptions import BadSignatureError as _NaclBadSignature
from nacl.signing import SigningKey, VerifyKey

GENESIS = "0" * 64
ALLOWANCE_TYPE = "gridvend.allowance"
RELAY_KEY_TYPE = "gridvend.relay_key"
VENDING_KEYS_TYPE = "gridvend.vending_keys"
# Matched whole (``fullmatch``, and ``\Z`` for any ``.match``): ``$`` also matches before a
# final newline, and ``bytes.fromhex`` skips whitespace, so ``sig + "\n"`` would pass.
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
HEX128 = re.compile(r"[0-9a-f]{128}\Z")

HEADER_STATION = "X-Station"
HEADER_TIME = "X-Station-Time"
HEADER_NONCE = "X-Station-Nonce"
HEADER_SIGNATURE = "X-Station-Signature"
HEADER_MASTER_SIGNATURE = "X-Master-Signature"
HEADER_RELAY_KEY = "X-Relay-Key"
MAX_RELAY_KEY_HEADER = 2_000


def loads(text: str | bytes) -> Any:
    """JSON from the other side of a link (a station, a relay, a master, any server at a
    mistyped URL), read once here. Raises ValueError for text that is not JSON, including
    nesting deeper than the decoder recurses: its RecursionError would escape every handler
    that expects a refusal (a 500 on the master, a crashed sync cycle on a station)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


class BadSignature(Exception):
    """A signature or key that does not verify (or is not even well formed)."""


def canonical(value: Any) -> str:
    """The one text form of ``value`` that is hashed and signed."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def utc_text(moment: datetime) -> str:
    """``2026-12-01T08:15:00.123456Z``: a time in the canonical form."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times in the protocol are timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: object) -> datetime:
    if not isinstance(text, str) or len(text) != 27 or not text.endswith("Z"):
        raise ValueError("not a protocol time")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# --- Keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    seed: bytes
    public_hex: str

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public_hex[:16]}..., seed=<secret>)"


def new_key_pair() -> KeyPair:
    return key_pair_from_seed(secrets.token_bytes(32))


def key_pair_from_seed(seed: bytes) -> KeyPair:
    if len(seed) != 32:
        raise BadSignature("an Ed25519 seed has 32 bytes")
    return KeyPair(seed, bytes(SigningKey(seed).verify_key).hex())


def sign(seed: bytes, message: bytes) -> str:
    return bytes(SigningKey(seed).sign(message).signature).hex()


def verify(public_hex: str, message: bytes, signature_hex: str) -> None:
    """Raises BadSignature unless ``signature_hex`` is the key's signature of ``message``."""
    if not isinstance(public_hex, str) or not HEX64.fullmatch(public_hex):
        raise BadSignature("the public key is not 32 bytes of hex")
    if not isinstance(signature_hex, str) or not HEX128.fullmatch(signature_hex):
        raise BadSignature("the signature is not 64 bytes of hex")
    try:
        _public_key(public_hex).verify(message, bytes.fromhex(signature_hex))
    except (_NaclBadSignature, ValueError) as failed:
        raise BadSignature("the signature does not verify") from failed


@functools.lru_cache(maxsize=256)
def _public_key(public_hex: str) -> VerifyKey:
    """A station's public key, read once: a batch verifies thousands of entries under one key.
    Ed25519 by libsodium (PyNaCl): 60 µs a check here against 360 µs in pure-Python
    pycryptodome, which was a fifth of applying an uploaded journal. Only public keys are kept."""
    return VerifyKey(bytes.fromhex(public_hex))


# --- Journal entries -----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedEntry:
    seq: int
    kind: str
    occurred_at: str
    body: str
    entry_hash: str
    signature: str

    def wire(self) -> dict[str, Any]:
        return {"body": self.body, "hash": self.entry_hash, "signature": self.signature}


def make_entry(
    *,
    seed: bytes,
    station: str,
    seq: int,
    kind: str,
    occurred_at: datetime,
    prev: str,
    data: dict[str, Any],
) -> SignedEntry:
    when = utc_text(occurred_at)
    body = canonical(
        {
            "station": station,
            "seq": seq,
            "kind": kind,
            "occurred_at": when,
            "prev": prev,
            "data": data,
        }
    )
    digest = sha256_hex(body)
    return SignedEntry(seq, kind, when, body, digest, sign(seed, bytes.fromhex(digest)))


@dataclass(frozen=True)
class ReadEntry:
    station: str
    seq: int
    kind: str
    occurred_at: datetime
    prev: str
    data: dict[str, Any]
    body: str
    entry_hash: str
    signature: str


def read_entry(wire: object, *, public_hex: str, max_body: int = 16_384) -> ReadEntry:
    """One entry from the wire, checked: its body's size and shape, its hash, its signature by
    ``public_hex``. Raises BadSignature (hash or signature) or ValueError (shape)."""
    if not isinstance(wire, dict) or set(wire) != {"body", "hash", "signature"}:
        raise ValueError("an entry is {body, hash, signature}")
    body, digest, signature = wire["body"], wire["hash"], wire["signature"]
    if not isinstance(body, str) or len(body) > max_body:
        raise ValueError("the entry's body is missing or too long")
    if not isinstance(digest, str) or not HEX64.fullmatch(digest):
        raise ValueError("the entry's hash is not 32 bytes of hex")
    if sha256_hex(body) != digest:
        raise BadSignature("the entry's body does not match its hash")
    verify(public_hex, bytes.fromhex(digest), signature)
    parsed = loads(body)
    if not isinstance(parsed, dict) or canonical(parsed) != body:
        raise ValueError("the entry's body is not canonical JSON")
    if set(parsed) != {"station", "seq", "kind", "occurred_at", "prev", "data"}:
        raise ValueError("the entry's body has other fields")
    seq, kind, prev, data = parsed["seq"], parsed["kind"], parsed["prev"], parsed["data"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < 2**62:
        raise ValueError("the entry's sequence number is not a positive integer")
    if not isinstance(kind, str) or not 1 <= len(kind) <= 20:
        raise ValueError("the entry's kind is not a short text")
    if not isinstance(prev, str) or not HEX64.fullmatch(prev):
        raise ValueError("the entry's previous hash is not 32 bytes of hex")
    if not isinstance(data, dict) or not isinstance(parsed["station"], str):
        raise ValueError("the entry's data is not an object")
    return ReadEntry(
        station=parsed["station"],
        seq=seq,
        kind=kind,
        occurred_at=parse_utc(parsed["occurred_at"]),
        prev=prev,
        data=data,
        body=body,
        entry_hash=digest,
        signature=signature,
    )


# --- Documents the master signs ------------------------------------------------------------


def _read_signed(
    wire: object, type_: str, limit: int, *, master_public_hex: str, what: str
) -> tuple[str, str, dict[str, Any]]:
    """A ``{payload, signature}`` document the master signed, checked in the one order that
    is safe on hostile input: its shape, the payload's size (before anything is parsed), the
    master's signature over the payload's bytes, then that the payload is a JSON object of
    ``type_``. ``what`` names the document in the errors. Returns the payload, the signature
    and the parsed payload; raises BadSignature or ValueError."""
    if not isinstance(wire, dict) or set(wire) != {"payload", "signature"}:
        raise ValueError(f"{what} is {{payload, signature}}")
    payload, signature = wire["payload"], wire["signature"]
    if not isinstance(payload, str) or len(payload) > limit:
        raise ValueError(f"the payload of {what} is missing or too long")
    verify(master_public_hex, payload.encode("utf-8"), signature)
    parsed = loads(payload)
    if not isinstance(parsed, dict) or parsed.get("type") != type_:
        raise ValueError(f"not {what}")
    return payload, signature, parsed


# --- Allowances ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    station: str
    sequence: int
    ceiling_minor: int
    currency: str
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    payload: str
    signature: str


def make_allowance(
    *,
    seed: bytes,
    station: str,
    sequence: int,
    ceiling_minor: int,
    currency: str,
    valid_from: datetime,
    valid_until: datetime,
    issued_at: datetime,
) -> Allowance:
    payload = canonical(
        {
            "type": ALLOWANCE_TYPE,
            "station": station,
            "sequence": sequence,
            "ceiling_minor": ceiling_minor,
            "currency": currency,
            "valid_from": utc_text(valid_from),
            "valid_until": utc_text(valid_until),
            "issued_at": utc_text(issued_at),
        }
    )
    return read_allowance(
        {"payload": payload, "signature": sign(seed, payload.encode("utf-8"))},
        master_public_hex=key_pair_from_seed(seed).public_hex,
        station=station,
    )


def read_allowance(wire: object, *, master_public_hex: str, station: str) -> Allowance:
    """An allowance from the wire, checked: signed by the master, for ``station``, well formed.
    Raises BadSignature (forged, altered) or ValueError (shape, another station's)."""
    payload, signature, parsed = _read_signed(
        wire, ALLOWANCE_TYPE, 2_000, master_public_hex=master_public_hex, what="an allowance"
    )
    if parsed.get("station") != station:
        raise ValueError("the allowance is another station's")
    sequence, ceiling, currency = parsed["sequence"], parsed["ceiling_minor"], parsed["currency"]
    for number in (sequence, ceiling):
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ValueError("the allowance's numbers are not whole and positive")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError("the allowance's currency is not a currency code")
    valid_from, valid_until = parse_utc(parsed["valid_from"]), parse_utc(parsed["valid_until"])
    if valid_until <= valid_from:
        raise ValueError("the allowance ends before it starts")
    return Allowance(
        station=station,
        sequence=sequence,
        ceiling_minor=ceiling,
        currency=currency,
        valid_from=valid_from,
        valid_until=valid_until,
        issued_at=parse_utc(parsed["issued_at"]),
        payload=payload,
        signature=signature,
    )


# --- Relay key statements ------------------------------------------------------------------


@dataclass(frozen=True)
class RelayKey:
    relay: str
    public_key: str
    valid_from: datetime
    sequence: int
    payload: str
    signature: str

    def wire(self) -> dict[str, str]:
        return {"payload": self.payload, "signature": self.signature}


def make_relay_key(
    *, seed: bytes, relay: str, public_key: str, valid_from: datetime, sequence: int
) -> RelayKey:
    """The master's statement that ``relay`` signs with ``public_key`` from ``valid_from`` (its
    ``sequence``-th enrolment), signed with the master's ``seed``."""
    payload = canonical(
        {
            "type": RELAY_KEY_TYPE,
            "relay": relay,
            "public_key": public_key,
            "valid_from": utc_text(valid_from),
            "sequence": sequence,
        }
    )
    return read_relay_key(
        {"payload": payload, "signature": sign(seed, payload.encode("utf-8"))},
        master_public_hex=key_pair_from_seed(seed).public_hex,
    )


def read_relay_key(wire: object, *, master_public_hex: str) -> RelayKey:
    """A relay key statement from the wire, checked: signed by the master, well formed. Raises
    BadSignature (forged, altered) or ValueError (shape)."""
    payload, signature, parsed = _read_signed(
        wire,
        RELAY_KEY_TYPE,
        1_000,
        master_public_hex=master_public_hex,
        what="a relay key statement",
    )
    if set(parsed) != {"type", "relay", "public_key", "valid_from", "sequence"}:
        raise ValueError("the statement has other fields")
    relay, public_key, sequence = parsed["relay"], parsed["public_key"], parsed["sequence"]
    if not isinstance(relay, str) or not 0 < len(relay) <= 40:
        raise ValueError("the statement's relay is not a station code")
    if not isinstance(public_key, str) or not HEX64.fullmatch(public_key):
        raise ValueError("the statement's key is not 32 bytes of hex")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or not 1 <= sequence < 2**31:
        raise ValueError("the statement's sequence is not a positive integer")
    return RelayKey(
        relay=relay,
        public_key=public_key,
        valid_from=parse_utc(parsed["valid_from"]),
        sequence=sequence,
        payload=payload,
        signature=signature,
    )


# --- Vending keys statements ---------------------------------------------------------------


def _vending_keys_payload(
    *, station: str, station_exchange_key: str, master_exchange_key: str, vending_keys: object
) -> str:
    return canonical(
        {
            "type": VENDING_KEYS_TYPE,
            "station": station,
            "station_exchange_key": station_exchange_key,
            "master_exchange_key": master_exchange_key,
            "vending_keys_sha256": sha256_hex(canonical(vending_keys)),
        }
    )


def make_vending_keys_statement(
    *,
    seed: bytes,
    station: str,
    station_exchange_key: str,
    master_exchange_key: str,
    vending_keys: list[dict[str, Any]],
) -> dict[str, str]:
    """The master's signed word that ``vending_keys`` (as sent) are sealed for ``station``
    under the agreement of the station's exchange key (fresh in its signed request) and the
    master's: a relay that swaps the master's exchange key or the sealed items is caught."""
    payload = _vending_keys_payload(
        station=station,
        station_exchange_key=station_exchange_key,
        master_exchange_key=master_exchange_key,
        vending_keys=vending_keys,
    )
    return {"payload": payload, "signature": sign(seed, payload.encode("utf-8"))}


def read_vending_keys_statement(
    wire: object,
    *,
    master_public_hex: str,
    station: str,
    station_exchange_key: str,
    master_exchange_key: object,
    vending_keys: object,
) -> None:
    """Checks that ``wire`` is the master's statement of exactly this delivery: signed by the
    master, for ``station``, answering the station's own exchange key, naming the exchange key
    and the sealed items the answer carries. Raises BadSignature (not the master's) or
    ValueError (another delivery's, or something in the answer was changed)."""
    _payload, _signature, parsed = _read_signed(
        wire,
        VENDING_KEYS_TYPE,
        1_000,
        master_public_hex=master_public_hex,
        what="a vending keys statement",
    )
    if parsed.get("station") != station:
        raise ValueError("the statement is for another station")
    if parsed.get("station_exchange_key") != station_exchange_key:
        raise ValueError("the statement answers another request (not this station's exchange key)")
    if parsed.get("master_exchange_key") != master_exchange_key:
        raise ValueError("the answer's exchange key is not the one the master signed")
    try:
        digest = sha256_hex(canonical(vending_keys))
    except (TypeError, ValueError):
        raise ValueError("the answer's vending keys are not JSON") from None
    if parsed.get("vending_keys_sha256") != digest:
        raise ValueError("the answer's sealed vending keys are not the ones the master signed")


def relay_key_header(statement: RelayKey) -> str:
    """The ``X-Relay-Key`` header's value: base64 of the statement's canonical wire form."""
    return base64.b64encode(canonical(statement.wire()).encode("utf-8")).decode("ascii")


def relay_key_from_header(text: object) -> object:
    """The wire form in an ``X-Relay-Key`` header (to be checked with ``read_relay_key``).
    Raises ValueError for a header that is too long or not base64 of JSON."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_RELAY_KEY_HEADER:
        raise ValueError("the relay key header is missing or too long")
    try:
        return loads(base64.b64decode(text, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("the relay key header is not base64 of JSON") from None


# --- Requests and answers ------------------------------------------------------------------


def request_message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, sha256_hex(body)]).encode("utf-8")


def answer_message(nonce: str, body: bytes) -> bytes:
    return "\n".join([nonce, sha256_hex(body)]).encode("utf-8")


def new_nonce() -> str:
    return secrets.token_hex(16)
