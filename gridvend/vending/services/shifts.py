"""Cashier shifts: opened with a declared float, closed with a cash count per tender type; a
closed shift never changes again, except for a supervisor's sign-off. Also force-closing an
abandoned shift."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridvend.approvals.errors import MakerCheckerViolation
from gridvend.audit.services import record
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import InvalidAmount, ReasonRequired
from gridvend.kernel.money import Money
from gridvend.org.models import VendingPoint
from gridvend.vending.errors import (
    CountRequired,
    ShiftAlreadyOpen,
    ShiftAlreadySignedOff,
    ShiftClosed,
    ShiftForceCloseOwn,
    ShiftNotAbandoned,
    ShiftNotClosed,
    ShiftNotOpen,
    TenderTypeInvalid,
)
from gridvend.vending.events import VendingEvent
from gridvend.vending.integrity.shifts import shift_binding
from gridvend.vending.locks import lock_shift
from gridvend.vending.models import TENDER_TYPES, Shift, ShiftStatus
from gridvend.vending.permissions import SUPERVISOR_RANK
from gridvend.vending.selectors import current_shift, expected_takings, is_abandoned, shift_required
from gridvend.vending.shift_hooks import run_shift_closed, run_shift_opened


def require_open_shift(actor: User, point: VendingPoint) -> Shift | None:
    """The seller's open shift at this point, or SHIFT_NOT_OPEN where the channel needs one."""
    if not shift_required(point):
        return None
    shift = current_shift(actor, point)
    if shift is None:
        raise ShiftNotOpen(vending_point=point.code)
    return shift


def open_shift(
    *, actor: User, vending_point: VendingPoint, opening_float: Money, now: datetime | None = None
) -> Shift:
    permissions.require_capability(actor, Capability.CASHIER)
    require_unit_in_scope(actor, vending_point.org_unit)
    if opening_float.is_negative():
        raise InvalidAmount(value=str(opening_float), reason="the float cannot be negative")
    with transaction.atomic(durable=True):
        if Shift.objects.filter(operator=actor, status=ShiftStatus.OPEN).exists():
            raise ShiftAlreadyOpen()
        shift = Shift.objects.create(
            vending_point=vending_point,
            operator=actor,
            currency=opening_float.currency,
            opening_float_minor=opening_float.minor,
            opened_at=now or timezone.now(),
        )
        run_shift_opened(shift)
        record(
            actor=actor,
            event_type=VendingEvent.SHIFT_OPENED,
            target=shift,
            after={
                "opening_float": opening_float.to_dict(),
                "vending_point": vending_point.code,
                # Binds the shift as opened; an edit to its float no longer matches.
                "digests": shift_binding(shift),
            },
        )
    return shift


def close_shift(
    *,
    actor: User,
    shift: Shift,
    counted: dict[str, Money],
    note: str = "",
    now: datetime | None = None,
) -> Shift:
    """Record the count per tender type; the difference against the sales is the over/short."""
    with transaction.atomic(durable=True):
        locked = lock_shift(shift)
        require_unit_in_scope(actor, locked.vending_point.org_unit)
        if locked.operator_id != actor.pk:
            permissions.require_capability(actor, Capability.FINANCE)
        if locked.status != ShiftStatus.OPEN:
            raise ShiftClosed(action="change")
        for method, amount in counted.items():
            if method not in TENDER_TYPES:
                raise TenderTypeInvalid(method=method)
            if amount.currency != locked.currency:
                raise InvalidAmount(value=str(amount), reason=f"counts are in {locked.currency}")
            if amount.is_negative():
                raise InvalidAmount(value=str(amount), reason="a count cannot be negative")
        expected = expected_takings(locked)
        counted_minor = {m: a.minor for m, a in counted.items()}
        methods = set(expected) | set(counted_minor)
        over_short = sum(counted_minor.get(m, 0) - expected.get(m, 0) for m in methods)
        locked.status = ShiftStatus.CLOSED
        locked.closed_at = now or timezone.now()
        locked.closed_by = actor
        locked.expected = expected
        locked.counted = counted_minor
        locked.over_short_minor = over_short
        locked.close_note = note[:255]
        locked.save(
            update_fields=[
                "status",
                "closed_at",
                "closed_by",
                "expected",
                "counted",
                "over_short_minor",
                "close_note",
            ]
        )
        run_shift_closed(locked)
        record(
            actor=actor,
            event_type=VendingEvent.SHIFT_CLOSED,
            target=locked,
            after={
                "expected": expected,
                "counted": counted_minor,
                "over_short_minor": over_short,
                # Binds the closed shift whole: it never changes again.
                "digests": shift_binding(locked),
            },
        )
    return locked


def _lock_for_supervisor(actor: User, shift: Shift) -> Shift:
    permissions.require_rank(actor, SUPERVISOR_RANK)
    locked = lock_shift(shift)
    require_unit_in_scope(actor, locked.vending_point.org_unit)
    return locked


def force_close_shift(
    *, actor: User, shift: Shift, reason: str, now: datetime | None = None
) -> Shift:
    """Close a shift its cashier abandoned, without a count: a supervisor of the point's subtree,
    with a reason, once it has been open GRIDVEND_SHIFT_ABANDON_HOURS. The Z report says so."""
    reason = reason.strip()
    if not reason:
        raise ReasonRequired()
    moment = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = _lock_for_supervisor(actor, shift)
        if locked.status != ShiftStatus.OPEN:
            raise ShiftClosed(action="change")
        if locked.operator_id == actor.pk:
            raise ShiftForceCloseOwn()
        if not is_abandoned(locked, moment):
            raise ShiftNotAbandoned(hours=settings.SHIFT_ABANDON_HOURS)
        expected = expected_takings(locked)
        locked.status = ShiftStatus.CLOSED
        locked.closed_at = moment
        locked.closed_by = actor
        locked.is_force_closed = True
        locked.force_close_reason = reason[:255]
        locked.expected = expected
        # Nothing was counted: no count per tender and no over/short to report.
        locked.counted = {}
        locked.over_short_minor = 0
        locked.save(
            update_fields=[
                "status",
                "closed_at",
                "closed_by",
                "is_force_closed",
                "force_close_reason",
                "expected",
                "counted",
                "over_short_minor",
            ]
        )
        run_shift_closed(locked)
        record(
            actor=actor,
            event_type=VendingEvent.SHIFT_FORCE_CLOSED,
            target=locked,
            before={"status": ShiftStatus.OPEN},
            after={
                "status": ShiftStatus.CLOSED,
                "expected": expected,
                "reason": reason[:255],
                "digests": shift_binding(locked),
            },
        )
    return locked


def sign_off_shift(
    *,
    actor: User,
    shift: Shift,
    note: str = "",
    witnessed_cash: Money | None = None,
    now: datetime | None = None,
) -> Shift:
    """A supervisor's check of a closed shift's count; never by the shift's own cashier.

    A force-closed shift was never counted: its sign-off is the count. Someone other than the
    supervisor who force-closed it counts the drawer with a witness and enters the cash found
    (``witnessed_cash``); it becomes the shift's cash count and goes on the banking slip."""
    with transaction.atomic(durable=True):
        locked = _lock_for_supervisor(actor, shift)
        if locked.status != ShiftStatus.CLOSED:
            raise ShiftNotClosed()
        if locked.operator_id == actor.pk:
            raise MakerCheckerViolation(subject="shift")
        if locked.signed_off_by_id is not None:
            raise ShiftAlreadySignedOff()
        fields = ["signed_off_by", "signed_off_at", "sign_off_note"]
        if locked.is_force_closed:
            if locked.closed_by_id == actor.pk:
                raise MakerCheckerViolation(subject="force_closed_shift")
            if witnessed_cash is None or witnessed_cash.currency != locked.currency:
                raise CountRequired()
            expected_cash = int(locked.expected.get("cash", 0))
            locked.counted = {"cash": witnessed_cash.minor}
            locked.over_short_minor = witnessed_cash.minor - expected_cash
            fields += ["counted", "over_short_minor"]
        locked.signed_off_by = actor
        locked.signed_off_at = now or timezone.now()
        locked.sign_off_note = note.strip()[:255]
        locked.save(update_fields=fields)
        record(
            actor=actor,
            event_type=VendingEvent.SHIFT_SIGNED_OFF,
            target=locked,
            after={
                "note": locked.sign_off_note,
                "over_short_minor": locked.over_short_minor,
                **({"witnessed_count": locked.counted} if locked.is_force_closed else {}),
                "digests": shift_binding(locked),
            },
        )
    return locked
