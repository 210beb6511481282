"""Writing audit events: every service calls `record` inside its own transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from gridvend import rows
from gridvend.audit import context
from gridvend.audit.chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    SCHEME_LINK,
    content_hash,
    link_hash,
    normalised,
)
from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.streams import default_key, pinned_stream

if TYPE_CHECKING:
    from gridvend.identity.models import User


_REHEARSING: ContextVar[bool] = ContextVar("gridvend_audit_rehearsal", default=False)


@contextmanager
def rehearsal() -> Iterator[None]:
    """A run of services that will be rolled back whatever happens (an import's dry run).

    Its events would be rolled back too, so they are not chained: the rehearsal never takes
    a stream's head, which other writes to that stream wait for, and a dry run of a 5,000-row
    file holds no head while it runs. The enclosing transaction is
    marked for rollback on the way out, so nothing a rehearsal did can be committed.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a rehearsal must run inside the transaction it rolls back")
    token = _REHEARSING.set(True)
    try:
        yield
    finally:
        _REHEARSING.reset(token)
        transaction.set_rollback(True)


# An event's own fields, in the order the statements below take them.
FIELDS = EVENT_FIELDS

# PostgreSQL: one statement takes the stream's head (its row lock, held to commit: a second
# appender to the stream waits here, then reads the head the first one left), moves it one event
# on and inserts the event from what it returned. In READ COMMITTED the UPDATE re-reads the row
# after waiting, so two appenders never take the same seq. The casts: INSERT ... SELECT does not
# type its parameters from the columns as VALUES does.
_APPEND_POSTGRESQL = """
WITH h AS (
    UPDATE audit_audithead
    SET seq = seq + 1,
        prev_hash = hash,
        hash = encode(sha256(convert_to(
            hash || ':' || id || ':' || (seq + 1) || ':' || %s, 'UTF8')), 'hex')
    WHERE id = %s
    RETURNING id, seq, prev_hash, hash
)
INSERT INTO audit_auditevent (
    stream, seq, scheme, prev_hash, hash, occurred_at, actor_id, actor_label, ip, request_id,
    event_type, target_type, target_id, target_label, org_path, before, after
)
SELECT h.id, h.seq, %s, h.prev_hash, h.hash, %s::timestamptz, %s::bigint, %s::text, %s::inet,
    %s::text, %s::text, %s::text, %s::text, %s::text, %s::text, %s::jsonb, %s::jsonb
FROM h
RETURNING id, seq, prev_hash, hash
"""
# SQLite: no data-modifying WITH, so the insert reads the head and computes the link (with the
# sha256_hex function every connection registers, see apps.py), and a trigger on the insert
# moves the head (triggers.py, ``_sqlite_writers``). SQLite has no row locks: the IMMEDIATE
# transaction every write opens holds the database's write lock, so appenders never interleave.
_APPEND_SQLITE = """
INSERT INTO audit_auditevent (
    stream, seq, scheme, prev_hash, hash, occurred_at, actor_id, actor_label, ip, request_id,
    event_type, target_type, target_id, target_label, org_path, before, after
)
SELECT h.id, h.seq + 1, %s, h.hash,
    sha256_hex(h.hash || ':' || h.id || ':' || (h.seq + 1) || ':' || %s),
    %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
FROM audit_audithead h
WHERE h.id = %s
RETURNING id, seq, prev_hash, hash
"""


APPEND_SQL = {"postgresql": _APPEND_POSTGRESQL, "sqlite": _APPEND_SQLITE}


def append_params(vendor: str, *, stream: int, content: str, values: list[Any]) -> list[Any]:
    """The parameters of ``APPEND_SQL[vendor]``: ``values`` are the event's ``FIELDS`` as the
    driver takes them (also used by the benchmark's floor, which writes with the bare driver)."""
    if vendor == "postgresql":
        return [content, stream, SCHEME_LINK, *values]
    return [SCHEME_LINK, content, *values, stream]


@cache
def _model_fields() -> tuple[Any, ...]:
    """The model's fields of ``FIELDS``, in that order (looked up once, not per event)."""
    columns = {field.attname: field for field in AuditEvent._meta.concrete_fields}
    return tuple(columns[name] for name in FIELDS)


def _append(stream: int, fields: dict[str, Any], json_texts: dict[str, str | None]) -> AuditEvent:
    """Insert the event at the end of ``stream`` in one statement and return it as stored.
    ``json_texts``: the JSON columns' values as the text to store, serialised already."""
    content = content_hash(scheme=SCHEME_LINK, **fields)
    connection = rows.database()
    values = [
        json_texts[name] if name in json_texts else field.get_db_prep_save(fields[name], connection)
        for name, field in zip(FIELDS, _model_fields(), strict=True)
    ]
    sql = APPEND_SQL[connection.vendor]
    params = append_params(connection.vendor, stream=stream, content=content, values=values)
    with rows.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            # The stream has no head yet (a database emptied by a test's flush): start it, once.
            AuditHead.objects.bulk_create(
                [AuditHead(id=stream, seq=0, prev_hash=GENESIS_HASH, hash=GENESIS_HASH)],
                ignore_conflicts=True,
            )
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"audit stream {stream} has no head and none could be made")
    pk, seq, prev_hash, digest = row
    event = AuditEvent(
        id=pk, stream=stream, seq=seq, scheme=SCHEME_LINK, prev_hash=prev_hash, hash=digest
    )
    for name, value in fields.items():
        setattr(event, name, value)
    event._state.adding = False
    event._state.db = connection.alias
    return event


def record(
    *,
    actor: User | None,
    event_type: str,
    target: Any = None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    org_path: str = "",
    before: Any = None,
    after: Any = None,
    stream_key: int | str | None = None,
) -> AuditEvent:
    """Append one event to the trail; must run inside the transaction of the change it records.

    One statement. The event goes to the stream of ``stream_key`` (a sale passes its meter's
    pk), by default of its target or else its actor; every later event of the same transaction
    goes to the stream the first one chose (``streams.pinned_stream``)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must be called inside the change's transaction")
    fields, texts = _event_fields(
        actor=actor,
        event_type=event_type,
        target=target,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        org_path=org_path,
        before=before,
        after=after,
    )
    if _REHEARSING.get():
        # Never saved: the rehearsal's transaction is rolled back (see rehearsal()).
        return AuditEvent(**fields)
    if stream_key is None:
        stream_key = default_key(
            target_type=fields["target_type"],
            target_id=fields["target_id"],
            actor_pk=fields["actor_id"],
        )
    return _append(pinned_stream(connection, stream_key), fields, texts)


def _event_fields(
    *,
    actor: User | None,
    event_type: str,
    target: Any,
    target_type: str,
    target_id: str,
    target_label: str,
    org_path: str,
    before: Any,
    after: Any,
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """An event's own fields (``EVENT_FIELDS``) as :func:`record` hashes and stores them, and
    its JSON columns' text."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)[:200]
        org_path = org_path or getattr(target, "audit_org_path", "") or ""
    ctx = context.current()
    # Microseconds survive both databases, so the hash can be recomputed from the stored row.
    occurred_at = timezone.now()
    # Each payload serialised once: its text is stored, the value it reads back as is hashed.
    before_text, before = normalised(before)
    after_text, after = normalised(after)
    fields: dict[str, Any] = {
        "occurred_at": occurred_at,
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": actor.get_username() if actor is not None else "system",
        # As the column gives it back (an IPv6 address in its canonical form), so the hash
        # recomputed from the stored row is the hash written.
        "ip": AuditEvent._meta.get_field("ip").get_prep_value(ctx.ip),
        "request_id": ctx.request_id,
        "event_type": event_type,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "org_path": org_path,
        "before": before,
        "after": after,
    }
    return fields, {"before": before_text, "after": after_text}


@dataclass(frozen=True)
class Pending:
    """One event for :func:`record_many`: :func:`record`'s arguments."""

    actor: User | None
    event_type: str
    target: Any = None
    after: Any = None
    before: Any = None
    stream_key: int | str | None = None


def record_many(events: list[Pending]) -> list[AuditEvent]:
    """Append many events of one transaction at once, in order (an offline station's batch of
    sales): each event is the row :func:`record` would write in its place, chained the same
    way. The transaction's stream (``pinned_stream``, chosen by the first event's key as for
    ``record``) has its head locked once; the links are computed here, as the database would
    compute them one by one, and the rows inserted in as few statements as the database
    takes; then the head is moved to the last row."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record_many must be called inside the change's transaction")
    if not events:
        return []
    built = [
        _event_fields(
            actor=e.actor,
            event_type=e.event_type,
            target=e.target,
            target_type="",
            target_id="",
            target_label="",
            org_path="",
            before=e.before,
            after=e.after,
        )
        for e in events
    ]
    if _REHEARSING.get():
        return [AuditEvent(**fields) for fields, _texts in built]
    first = events[0]
    key = first.stream_key
    if key is None:
        fields = built[0][0]
        key = default_key(
            target_type=fields["target_type"],
            target_id=fields["target_id"],
            actor_pk=fields["actor_id"],
        )
    stream = pinned_stream(connection, key)
    head = _locked_head(stream)
    seq, prev = head.seq, head.hash
    made: list[AuditEvent] = []
    for fields, _texts in built:
        seq += 1
        content = content_hash(scheme=SCHEME_LINK, **fields)
        digest = link_hash(prev_hash=prev, stream=stream, seq=seq, content=content)
        made.append(
            AuditEvent(
                stream=stream, seq=seq, scheme=SCHEME_LINK, prev_hash=prev, hash=digest, **fields
            )
        )
        prev = digest
    _insert_events(made, [texts for _fields, texts in built])
    _move_head(head, made)
    return made


def _insert_events(made: list[AuditEvent], texts: list[dict[str, str | None]]) -> None:
    """INSERT the chained events, their values prepared as ``_append`` prepares them (the JSON
    columns as the text serialised once), in as few statements as the database takes."""
    connection = rows.database()
    place = ("stream", "seq", "scheme", "prev_hash", "hash")
    columns = ", ".join(f'"{name}"' for name in (*place, *FIELDS))
    width = len(place) + len(FIELDS)
    size = max(1, min(1_000, rows.max_params(connection) // width))
    for first in range(0, len(made), size):
        chunk = made[first : first + size]
        params: list[Any] = []
        for event, json_texts in zip(chunk, texts[first : first + size], strict=True):
            params.extend(getattr(event, name) for name in place)
            params.extend(
                json_texts[name]
                if name in json_texts
                else field.get_db_prep_save(getattr(event, name), connection)
                for name, field in zip(FIELDS, _model_fields(), strict=True)
            )
        row = "(" + ", ".join(["%s"] * width) + ")"
        # Only placeholders are joined into the statement; every value is a parameter.
        sql = (
            f"INSERT INTO audit_auditevent ({columns}) VALUES "  # noqa: S608
            + ", ".join([row] * len(chunk))
            + " RETURNING id"
        )
        with rows.bulk_cursor() as cursor:
            cursor.execute(rows.bulk_sql(sql), params)
            keys = cursor.fetchall()
        for event, (pk,) in zip(chunk, keys, strict=True):
            event.pk = pk
            event._state.adding = False
            event._state.db = connection.alias


def _locked_head(stream: int) -> AuditHead:
    """The stream's head, locked to the end of the transaction (on SQLite the transaction's
    write lock holds it); made first when a flushed database has none."""
    head = AuditHead.objects.select_for_update().filter(pk=stream).first()
    if head is None:
        AuditHead.objects.bulk_create(
            [AuditHead(id=stream, seq=0, prev_hash=GENESIS_HASH, hash=GENESIS_HASH)],
            ignore_conflicts=True,
        )
        head = AuditHead.objects.select_for_update().get(pk=stream)
    return head


def _move_head(head: AuditHead, made: list[AuditEvent]) -> None:
    """Move the head past ``made``. On SQLite the insert's trigger moved it row by row already.
    On PostgreSQL its guard lets the head move only from the hash it holds: so in two steps,
    to the row before the last (linked from the hash held), then one row on; it ends as the
    appends one by one would have left it."""
    if rows.database().vendor == "sqlite":
        return
    last = made[-1]
    heads = AuditHead.objects.filter(pk=head.pk)
    if len(made) > 1:
        before_last = made[-2]
        heads.update(seq=before_last.seq, prev_hash=head.hash, hash=before_last.hash)
    heads.update(seq=last.seq, prev_hash=last.prev_hash, hash=last.hash)
