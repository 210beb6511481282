"""Hash-chain arithmetic for audit events, shared by the writer and the verifier."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

GENESIS_HASH = "0" * 64


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
