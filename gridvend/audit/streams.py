"""The audit trail's streams: a fixed number of hash chains, so that unrelated writes never queue
behind one head.

Every audited transaction appends to one stream, chosen by a key: a sale passes its meter's
primary key (sales of one meter already wait for each other on the meter's lock, so sharing a
stream costs them nothing more), other changes default to their target or, with no target, to
their actor. Each stream has its own head row, locked only by the transactions appending to it.

``AUDIT_STREAMS`` is a constant and not a setting: an event's stream is bound into its hash, a
check constraint holds every stream number below it and a head row exists per stream, so
changing it is a migration (docs/tamper-evidence.md).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

AUDIT_STREAMS = 32

# Where a connection keeps the stream its current transaction appends to (see pinned_stream).
_PIN = "_gridvend_audit_stream"


def stream_of(key: int | str) -> int:
    """The stream for ``key``: an int modulo the number of streams, a string by its SHA-256
    (stable across processes and releases, unlike Python's ``hash``)."""
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise TypeError(f"an audit stream key is an int or a str, not {type(key).__name__}")
    if isinstance(key, int):
        return key % AUDIT_STREAMS
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % AUDIT_STREAMS


def default_key(*, target_type: str, target_id: str, actor_pk: Any) -> str:
    """The key of an event whose writer named none: its target, or else who acted."""
    if target_type or target_id:
        return f"{target_type}:{target_id}"
    return f"actor:{actor_pk}" if actor_pk is not None else "actor:system"


def _outermost_block(connection: BaseDatabaseWrapper) -> Any:
    """The transaction's outermost atomic block, not counting a test case's own blocks (Django's
    TestCase wraps every test in two; the use cases' blocks inside them are the transactions
    they are in production)."""
    for block in connection.atomic_blocks:
        if not getattr(block, "_from_testcase", False):
            return block
    return connection.atomic_blocks[0]


def pinned_stream(connection: BaseDatabaseWrapper, key: int | str) -> int:
    """The stream this transaction appends to: the one its first event chose, whatever the key
    of a later event. So a transaction holds at most one head's lock, and two transactions
    never deadlock on heads (each waits for at most one, holding none).

    The choice is kept on the connection with the outermost atomic block it belongs to (the
    block itself, held, so that its id cannot be reused by a later block). One Atomic object
    reused as a decorator is the same block in every call: the calls then share the first
    one's stream, which is still one stream per transaction."""
    block = _outermost_block(connection)
    pinned = getattr(connection, _PIN, None)
    if pinned is not None and pinned[0] is block:
        return int(pinned[1])
    stream = stream_of(key)
    setattr(connection, _PIN, (block, stream))
    return stream
