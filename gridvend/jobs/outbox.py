"""The outbox: outbound messages (SMS, e-mail, advices, callbacks) written as rows in the
transaction of the change that calls for them, and delivered afterwards by the drain job.

- :func:`put` writes a message in the caller's transaction, once per key, and asks for a drain
  once the transaction commits; a rolled-back change leaves no message.
- :func:`register_handler` names the function that delivers a kind of message (call it from
  an AppConfig.ready(), so every process has it).
- :func:`drain` (the job ``DRAIN_JOB``, also run every minute) takes due messages one at a time
  under a lease (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock, which
  every transaction takes at its start here, on SQLite), calls the handler outside any
  transaction and records the outcome: sent; failed for good (:class:`PermanentFailure`); or
  due again after an exponential back-off, until GRIDVEND_OUTBOX_MAX_ATTEMPTS.

A crash never loses a message: a row being sent whose lease ran out (its worker died) is taken
again. A retry never sends a message that was recorded as sent, and two drains never hold the
same row. What no outbox can promise is the moment between a gateway accepting a message and
the row saying so: a worker killed exactly then sends that message again when the lease runs
out. So a handler passes the message's ``key`` to the receiving end wherever it takes one
(an e-mail's Message-ID, an advice's request id), and the lease outlasts any one delivery.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.jobs.queue import enqueue_after_commit

logger = logging.getLogger("gridvend.outbox")

DRAIN_JOB = "gridvend.jobs.outbox.drain"
DRAIN_CRON = "* * * * *"
DRAIN_KEY = "outbox.drain"

KIND_MAX_LENGTH = 64
KEY_MAX_LENGTH = 200
PAYLOAD_MAX_BYTES = 256 * 1024
ERROR_MAX_LENGTH = 2000
RECEIPT_MAX_LENGTH = 200


class PermanentFailure(Exception):
    """The message cannot be delivered as it is (a number the gateway rejects, an address the
    mail server refuses, credentials it refuses): marked failed at once, for an operator to
    retry after fixing what was wrong (`gridvend jobs retry`)."""


class RetryLater(Exception):
    """The receiving end may take the message later (busy, down, out of credit). Any other
    exception from a handler counts as this too. ``after_seconds`` asks for at least that wait
    (a gateway's Retry-After)."""

    def __init__(self, message: str, *, after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.after_seconds = after_seconds


@dataclass(frozen=True)
class Delivery:
    """One attempt at one message, as its handler sees it; ``attempt`` counts from 1."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempt: int


# A handler delivers one message and returns what the receiving end answered (a gateway's
# message id, kept as the row's receipt) or None; it raises to refuse or to ask for a retry.
Handler = Callable[[Delivery], str | None]

_HANDLERS: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    """Name the function that delivers messages of ``kind`` (once per kind)."""
    if not kind or len(kind) > KIND_MAX_LENGTH or not kind.isprintable() or " " in kind:
        raise ValueError(f"an outbox kind is 1 to {KIND_MAX_LENGTH} characters: {kind!r}")
    existing = _HANDLERS.get(kind)
    if existing is not None and existing is not handler:
        raise ValueError(f"outbox kind {kind!r} has a handler already: {existing!r}")
    _HANDLERS[kind] = handler


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


def put(*, kind: str, key: str, payload: Mapping[str, Any]) -> OutboxMessage:
    """Write a message to deliver, in the caller's transaction; returns its row.

    ``key`` makes the message once-only: putting the same key again (a retried request, a
    second call for the same sale) returns the first message and changes nothing, even when
    two transactions put it at once. ``payload`` is plain JSON, at most 256 kB, holding
    everything the handler needs (it runs later, in another process). Once the transaction
    commits, a drain is queued (one per transaction).
    """
    if kind not in _HANDLERS:
        raise ValueError(f"no handler is registered for outbox kind {kind!r}")
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
        raise ValueError(f"an outbox key is 1 to {KEY_MAX_LENGTH} printable characters")
    try:
        encoded = json.dumps(dict(payload), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an outbox payload must be plain JSON: {exc}") from None
    if len(encoded.encode()) > PAYLOAD_MAX_BYTES:
        raise ValueError(f"an outbox payload is at most {PAYLOAD_MAX_BYTES} bytes")
    now = timezone.now()
    # ON CONFLICT DO NOTHING: a second writer of the key (PostgreSQL: after the first commits)
    # inserts nothing, with no error to break its transaction.
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                kind=kind,
                key=key,
                payload=json.loads(encoded),
                next_attempt_at=now,
                created_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    message = OutboxMessage.objects.get(key=key)
    if message.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
        enqueue_after_commit(DRAIN_JOB, key=DRAIN_KEY)
    return message


def backoff_seconds(attempt: int) -> int:
    """The wait after failed attempt number ``attempt``: doubling from the base, capped."""
    base = settings.OUTBOX_BACKOFF_SECONDS
    cap = settings.OUTBOX_BACKOFF_MAX_SECONDS
    return int(min(cap, base * 2 ** min(max(attempt - 1, 0), 30)))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _UsedUp:
    """What a claim returns when the row it took had no attempt left (a lease that ran out on
    the last one): the row is marked failed and nothing is delivered."""


_USED_UP = _UsedUp()


def _claim_one(kinds: Collection[str] | None) -> Delivery | _UsedUp | None:
    """Take the next due message under a lease; None when nothing is due. Durable: a drain
    inside another transaction would hold its leases, invisible to others, until that one
    commits (Django refuses it with RuntimeError)."""
    with transaction.atomic(durable=True):
        now = timezone.now()
        due = OutboxMessage.objects.filter(
            status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING], next_attempt_at__lte=now
        )
        if kinds:
            due = due.filter(kind__in=list(kinds))
        row = (
            due.order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .only("id", "kind", "key", "payload", "status", "attempts", "last_error")
            .first()
        )
        if row is None:
            return None
        interrupted = row.status == OutboxStatus.SENDING
        note = row.last_error
        if interrupted:
            note = _clip(
                f"attempt {row.attempts} did not finish (its worker stopped before recording it)",
                ERROR_MAX_LENGTH,
            )
        if row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            OutboxMessage.objects.filter(pk=row.pk).update(
                status=OutboxStatus.FAILED, next_attempt_at=None, last_error=note
            )
            logger.error("outbox %s %s failed after %s attempts", row.kind, row.key, row.attempts)
            return _USED_UP
        attempt = row.attempts + 1
        OutboxMessage.objects.filter(pk=row.pk).update(
            status=OutboxStatus.SENDING,
            attempts=attempt,
            next_attempt_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
            last_attempt_at=now,
            last_error=note,
        )
    return Delivery(row.pk, row.kind, row.key, dict(row.payload), attempt)


def _record(delivery: Delivery, **fields: Any) -> None:
    """Write an attempt's outcome, unless the lease was lost (another drain has the row)."""
    written = OutboxMessage.objects.filter(
        pk=delivery.id, status=OutboxStatus.SENDING, attempts=delivery.attempt
    ).update(**fields)
    if not written:
        logger.warning(
            "outbox %s %s: attempt %s finished after its lease ran out; outcome not recorded",
            delivery.kind,
            delivery.key,
            delivery.attempt,
        )


def _deliver(delivery: Delivery) -> str:
    handler = _HANDLERS.get(delivery.kind)
    try:
        if handler is None:
            raise RetryLater(f"no handler is registered for kind {delivery.kind!r}")
        receipt = handler(delivery)
    except PermanentFailure as exc:
        _record(
            delivery,
            status=OutboxStatus.FAILED,
            next_attempt_at=None,
            last_error=_clip(f"{exc}", ERROR_MAX_LENGTH),
        )
        logger.error("outbox %s %s refused: %s", delivery.kind, delivery.key, exc)
        return "failed"
    except Exception as exc:
        text = _clip(f"{type(exc).__name__}: {exc}", ERROR_MAX_LENGTH)
        now = timezone.now()
        if delivery.attempt >= settings.OUTBOX_MAX_ATTEMPTS:
            _record(delivery, status=OutboxStatus.FAILED, next_attempt_at=None, last_error=text)
            logger.error(
                "outbox %s %s failed after %s attempts: %s",
                delivery.kind,
                delivery.key,
                delivery.attempt,
                text,
            )
            return "failed"
        wait = backoff_seconds(delivery.attempt)
        asked = getattr(exc, "after_seconds", None)
        if isinstance(asked, int) and asked > wait:
            wait = min(asked, settings.OUTBOX_BACKOFF_MAX_SECONDS)
        _record(
            delivery,
            status=OutboxStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=wait),
            last_error=text,
        )
        logger.warning(
            "outbox %s %s attempt %s: %s (next in %ss)",
            delivery.kind,
            delivery.key,
            delivery.attempt,
            text,
            wait,
        )
        return "retry"
    now = timezone.now()
    _record(
        delivery,
        status=OutboxStatus.SENT,
        sent_at=now,
        next_attempt_at=None,
        last_error="",
        receipt=_clip(str(receipt or ""), RECEIPT_MAX_LENGTH),
    )
    return "sent"


def drain(
    *,
    kinds: Collection[str] | None = None,
    limit: int = 500,
    budget_seconds: float | None = None,
) -> dict[str, int]:
    """Deliver due messages, one at a time, until none is due, ``limit`` were taken or the time
    budget (half the job timeout) is spent; returns the counts of outcomes (sent, retry,
    failed). Safe to run in many processes at once. Runs outside any transaction: a delivery
    is not undone by a rollback, so its outcome is written as soon as it is known."""
    budget = budget_seconds if budget_seconds is not None else settings.Q_CLUSTER["timeout"] / 2
    started = time.monotonic()
    counts: Counter[str] = Counter()
    for _ in range(limit):
        if time.monotonic() - started > budget:
            break
        claimed = _claim_one(kinds)
        if claimed is None:
            break
        if isinstance(claimed, _UsedUp):
            counts["failed"] += 1
            continue
        counts[_deliver(claimed)] += 1
    return dict(counts)
