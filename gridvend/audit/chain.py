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
from datetime import UTC, datetime
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
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True))


def compute_hash(
    *,
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    ip: str | None,
    request_id: str,
    event_type: str,
    target_type: str,
    target_id: str,
    target_label: str,
    org_path: str,
    before: Any,
    after: Any,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "ip": ip,
        "request_id": request_id,
        "event_type": event_type,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "org_path": org_path,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(
    *,
    scheme: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    ip: str | None,
    request_id: str,
    event_type: str,
    target_type: str,
    target_id: str,
    target_label: str,
    org_path: str,
    before: Any,
    after: Any,
) -> str:
    """Scheme 2: the hash of every field of an event except where it sits (stream, seq) and its
    link (prev_hash, hash)."""
    body = {
        "scheme": scheme,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "ip": ip,
        "request_id": request_id,
        "event_type": event_type,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "org_path": org_path,
        "before": before,
        "after": after,
    }
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def link_hash(*, prev_hash: str, stream: int, seq: int, content: str) -> str:
    """Scheme 2: the event's hash, binding its content to its place in its stream. The writer
    leaves this to the database (see ``services``); the verifier recomputes it here."""
    return sha256_hex(f"{prev_hash}:{stream}:{seq}:{content}")
