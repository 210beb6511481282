"""Two-person decisions (maker–checker, DESIGN §11): ask, then approve or reject, by two people.

What every decision gets here, the same way:

- **one decision per request:** the request row is locked (``select_for_update``) before it is
  decided, and a request that is no longer pending is refused with REQUEST_ALREADY_DECIDED, so an
  approval and a rejection racing each other (or two approvals) decide it exactly once;
- **the second-person rule:** the requester may never decide their own request
  (MAKER_CHECKER_VIOLATION, worded for the decision type's ``subject``);
- **the decider's right to decide:** the decision type's ``may_decide`` predicate (capability and
  subtree) runs first, before anything is locked;
- **one transaction, audited:** the approval's effect (reversing a sale, issuing a token), the
  decision columns and the audit event are written in one durable transaction, or nothing is;
- **a reason for every no:** a rejection without a note is refused (REASON_REQUIRED).

A new decision type (tariff publication, key change, float top-up, write-off, ledger adjustment)
plugs in with a model inheriting ``approvals.models.DecisionRequest`` (plus what is asked for), a
``DecisionType`` naming its model, audit events and ``may_decide``, and, for approval, a
``carry_out`` function that does the thing and returns an ``Outcome``. See ``docs/approvals.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from django.db import transaction

from gridvend.approvals.errors import MakerCheckerViolation, RequestAlreadyDecided
from gridvend.approvals.models import DecisionRequest, RequestStatus
from gridvend.audit.services import record
from gridvend.identity.models import User
from gridvend.kernel.errors import ReasonRequired

R = TypeVar("R", bound=DecisionRequest)
T = TypeVar("T")


@dataclass(frozen=True)
class DecisionType(Generic[R]):
    """What one kind of two-person decision supplies; the rest is the same for every kind."""

    model: type[R]
    requested: StrEnum
    approved: StrEnum
    rejected: StrEnum
    # Raises unless the actor may decide this request (capability, subtree); it sees the request
    # as the caller holds it, before the lock, so a refusal never waits on another decision.
    may_decide: Callable[[User, R], None]
    # The MAKER_CHECKER_VIOLATION variant that words the second-person rule for this decision.
    subject: str
    # Relations the decision reads from the locked request (joined, not locked: ``of=self``).
    related: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What an approval did: its result, request columns to keep with the decision (the sale it
    made, say) and what the decision's audit event adds about it."""

    value: T
    keep: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)


def request_decision(
    kind: DecisionType[R], *, actor: User, after: dict[str, Any], **fields: Any
) -> R:
    """Write a pending request by ``actor`` and its ``requested`` audit event.

    Runs inside the asking use case's transaction, once it has checked (and locked) what is
    asked about: the conditions for asking differ from one decision to another, the record not.
    """
    created = kind.model._default_manager.create(requested_by=actor, **fields)
    record(actor=actor, event_type=kind.requested, target=created, after=after)
    return created


def lock_decision_request(kind: DecisionType[R], *, actor: User, request: R) -> R:
    """The request, locked, if ``actor`` may decide it now: allowed by the decision type, still
    pending, and not their own."""
    kind.may_decide(actor, request)
    locked = (
        kind.model._default_manager.select_related(*kind.related)
        .select_for_update(of=("self",))
        .get(pk=request.pk)
    )
    if locked.status != RequestStatus.PENDING:
        raise RequestAlreadyDecided(status=locked.status)
    if locked.requested_by_id == actor.pk:
        raise MakerCheckerViolation(subject=kind.subject)
    return locked


def approve_decision(
    kind: DecisionType[R],
    *,
    actor: User,
    request: R,
    note: str,
    now: datetime,
    carry_out: Callable[[R], Outcome[T]],
) -> T:
    """Approve and do it (``carry_out`` gets the locked request), in one durable transaction."""
    with transaction.atomic(durable=True):
        locked = lock_decision_request(kind, actor=actor, request=request)
        outcome = carry_out(locked)
        _record_decision(
            kind,
            actor,
            locked,
            status=RequestStatus.APPROVED,
            note=note,
            now=now,
            keep=outcome.keep,
            audit=outcome.audit,
        )
    return outcome.value


def reject_decision(
    kind: DecisionType[R], *, actor: User, request: R, note: str, now: datetime
) -> R:
    """Refuse the request with a reason; nothing else happens."""
    if not note.strip():
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        locked = lock_decision_request(kind, actor=actor, request=request)
        _record_decision(kind, actor, locked, status=RequestStatus.REJECTED, note=note, now=now)
        locked.refresh_from_db()
    return locked


def _record_decision(
    kind: DecisionType[R],
    actor: User,
    locked: R,
    *,
    status: str,
    note: str,
    now: datetime,
    keep: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
) -> None:
    kind.model._default_manager.filter(pk=locked.pk).update(
        status=status,
        decided_by=actor,
        decided_at=now,
        decision_note=note.strip()[:255],
        **(keep or {}),
    )
    event = kind.approved if status == RequestStatus.APPROVED else kind.rejected
    record(actor=actor, event_type=event, target=locked, after={**(audit or {}), "note": note})
