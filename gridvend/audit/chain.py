"""Hash-chain arithmetic for audit events, shared by the writer and the verifier.

Two schemes. Scheme 1 (every event written before the chain was split into streams) hashes the
whole row, link included, as one JSON document: :func:`compute_hash`. Scheme 2 hashes the event's
own fields once, in Python (:func:`content_hash`), and links it to its stream with
``sha256_hex(f"{prev_hash}:{stream}:{seq}:{content}")`` (:func:`link_hash`), which the database
computes in the statement that takes the stream's head, so appending costs one statement.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

GENESIS_HASH = "0" * 64
# The hash of the whole row (events written before streams).
SCHEME_ROW = 1
# A hash of the event's fields, linked to its stream by the database.
SCHEME_LINK = 2
SCHEMES = (SCHEME_ROW, SCHEME_LINK)


def normalise(value: Any) -> Any:
    """Make a before/after payload plain JSON so that what is hashed is what is stored."""
    return normalised(value)[1]


def normalised(value: Any) -> tuple[str | None, Any]:
    """A before/after payload as the JSON text to store and as the plain value that text reads
    back as (which is what is hashed); (None, None) for no payload. The writer stores the text
    itself, so the payload is serialised once for the row, not again by the driver."""
    if value is None:
        return None, None
    text = json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)
    return text, json.loads(text)


# The event's own fields: what both schemes hash besides where the event sits in its chain.
EVENT_FIELDS = (
    "occurred_at",
    "actor_id",
    "actor_label",
    "ip",
    "request_id",
    "event_type",
    "target_type",
    "target_id",
    "target_label",
    "org_path",
    "before",
    "after",
)


def _hashed(body: dict[str, Any]) -> str:
    body["occurred_at"] = body["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def compute_hash(*, seq: int, prev_hash: str, **fields: Any) -> str:
    """Scheme 1: the hash of the whole row, its place and link included (``EVENT_FIELDS``)."""
    return _hashed({"seq": seq, "prev_hash": prev_hash, **_event(fields)})


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(*, scheme: int, **fields: Any) -> str:
    """Scheme 2: the hash of every field of an event (``EVENT_FIELDS``) except where it sits
    (stream, seq) and its link (prev_hash, hash)."""
    return _hashed({"scheme": scheme, **_event(fields)})


def _event(fields: dict[str, Any]) -> dict[str, Any]:
    if set(fields) != set(EVENT_FIELDS):
        raise TypeError(f"an event's fields are {EVENT_FIELDS}, not {tuple(sorted(fields))}")
    return dict(fields)


def link_hash(*, prev_hash: str, stream: int, seq: int, content: str) -> str:
    """Scheme 2: the event's hash, binding its content to its place in its stream. The writer
    leaves this to the database (see ``services``); the verifier recomputes it here."""
    return sha256_hex(f"{prev_hash}:{stream}:{seq}:{content}")
