"""The vending keys with their usage counters (tokens made, last used), never key material.

Here, above the key store, because the counters are read from the token rows of sales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max

from gridvend.keys.models import VendingKeyRecord
from gridvend.vending.models import Token


@dataclass(frozen=True)
class KeyUsage:
    key_ref: str
    dkga: str
    sta_tables: str
    check_value: str
    fingerprint: str
    is_active: bool
    created_at: datetime
    master_key_id: str
    tokens: int
    last_used_at: datetime | None


def key_usage() -> list[KeyUsage]:
    """Every stored key with how many tokens it made and when it last made one.

    Counted from the token rows, which name the key that made them: a sale writes nothing extra
    for the counters and no sale waits on a per-key counter row. One grouped read over the
    token_key_usage index (key_ref, created_at)."""
    usage = {
        row["key_ref"]: (row["tokens"], row["last_used_at"])
        for row in Token.objects.exclude(key_ref="")
        .order_by()
        .values("key_ref")
        .annotate(tokens=Count("id"), last_used_at=Max("created_at"))
    }
    return [
        KeyUsage(
            key_ref=r.key_ref,
            dkga=r.dkga,
            sta_tables=r.sta_tables,
            check_value=r.check_value,
            fingerprint=r.fingerprint,
            is_active=r.is_active,
            created_at=r.created_at,
            master_key_id=r.master_key_id,
            tokens=usage.get(r.key_ref, (0, None))[0],
            last_used_at=usage.get(r.key_ref, (0, None))[1],
        )
        for r in VendingKeyRecord.objects.order_by("key_ref")
    ]
