"""Binds each cashier shift to the audit chain when it opens and when it closes, and checks the
stored shift against the latest of those events: the opening float, the count per tender, the
expected takings and the over/short decide what a cashier answers for."""

from __future__ import annotations

from gridvend.audit.digests import row_digest
from gridvend.audit.models import AuditEvent
from gridvend.vending.events import VendingEvent
from gridvend.vending.integrity.common import (
    Report,
    after,
    batches,
    events_for,
    recorded_digests,
    report_missing,
)
from gridvend.vending.models import Shift, ShiftStatus

SHIFT_TARGET = "vending.shift"
OPENED_EVENT = VendingEvent.SHIFT_OPENED
CLOSED_EVENT = VendingEvent.SHIFT_CLOSED
FORCE_CLOSED_EVENT = VendingEvent.SHIFT_FORCE_CLOSED
SIGNED_OFF_EVENT = VendingEvent.SHIFT_SIGNED_OFF
CLOSING_EVENTS = (CLOSED_EVENT, FORCE_CLOSED_EVENT)

# Every column: a shift changes at its close (by its cashier, or force-closed by a supervisor)
# and at a supervisor's sign-off, and each of those events binds it again whole.
SHIFT_FIELDS = (
    "vending_point_id",
    "operator_id",
    "status",
    "currency",
    "opening_float_minor",
    "opened_at",
    "closed_at",
    "expected",
    "counted",
    "over_short_minor",
    "close_note",
    "closed_by_id",
    "is_force_closed",
    "force_close_reason",
    "signed_off_by_id",
    "signed_off_at",
    "sign_off_note",
)


def shift_binding(shift: Shift) -> dict[str, str]:
    """What the opening and the closing event record about the shift as it stands then."""
    return {"shift": row_digest(shift, SHIFT_FIELDS)}


def _unbound_differences(shift: Shift, opened: AuditEvent, closed: AuditEvent | None) -> list[str]:
    """Events written before digests carried the float, and at the close the counts."""
    differences = []
    recorded_float = after(opened).get("opening_float")
    if isinstance(recorded_float, dict):
        if recorded_float.get("minor") != shift.opening_float_minor:
            differences.append("opening_float_minor")
        if recorded_float.get("currency") != shift.currency:
            differences.append("currency")
    if closed is not None:
        closing = after(closed)
        for name in ("expected", "counted", "over_short_minor"):
            if name in closing and closing[name] != getattr(shift, name):
                differences.append(name)
    return differences


def _check_shift(report: Report, shift: Shift, events: list[AuditEvent]) -> None:
    label = f"shift {shift.pk} at {shift.vending_point.code}"
    opened = next((e for e in events if e.event_type == OPENED_EVENT), None)
    closed = next((e for e in events if e.event_type in CLOSING_EVENTS), None)
    signed = next((e for e in events if e.event_type == SIGNED_OFF_EVENT), None)
    if opened is None:
        report.problems.append(
            f"{label} has no opening event in the audit trail (written outside gridvend, or its "
            "event deleted)"
        )
        return
    recorded_status = ShiftStatus.CLOSED if closed is not None else ShiftStatus.OPEN
    if shift.status != recorded_status:
        report.problems.append(
            f"{label} is marked {shift.status} but the audit trail records it {recorded_status} "
            "(edited)"
        )
        return
    latest = max((e for e in (opened, closed, signed) if e is not None), key=lambda e: e.pk)
    digests = recorded_digests(latest)
    if digests is not None:
        if digests.get("shift") != shift_binding(shift)["shift"]:
            report.problems.append(
                f"{label}: its opening float, counts, expected takings, over/short or times "
                f"differ from what audit event #{latest.pk} recorded (edited)"
            )
        return
    report.unbound += 1
    differences = _unbound_differences(shift, opened, closed)
    if differences:
        numbers = " and ".join(f"#{e.pk}" for e in (opened, closed) if e is not None)
        which = "events" if closed is not None else "event"
        report.problems.append(
            f"{label}: {', '.join(differences)} differ from what audit {which} {numbers} "
            "recorded (edited)"
        )


def verify_shifts(*, batch: int = 1000) -> Report:
    """Compare every shift with the digest its latest event (opening or closing) carries."""
    report = Report()
    for shifts in batches(Shift.objects.select_related("vending_point"), batch):
        events = events_for(
            SHIFT_TARGET,
            [s.pk for s in shifts],
            (OPENED_EVENT, *CLOSING_EVENTS, SIGNED_OFF_EVENT),
        )
        for shift in shifts:
            report.checked += 1
            _check_shift(report, shift, events[shift.pk])
    report_missing(
        report.problems,
        model=Shift,
        target_type=SHIFT_TARGET,
        event_types=(OPENED_EVENT,),
        prefix="",
        batch=batch,
    )
    return report
