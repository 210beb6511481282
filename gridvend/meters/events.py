"""The audit event types that meter, fault and key-change services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class MeterEvent(StrEnum):
    REGISTERED = "meter.registered"
    UPDATED = "meter.updated"
    INSTALLED = "meter.installed"
    BLOCKED = "meter.blocked"
    UNBLOCKED = "meter.unblocked"
    MARKED_FAULTY = "meter.marked_faulty"
    RETIRED = "meter.retired"
    REPLACED = "meter.replaced"
    KEY_CHANGE_REQUESTED = "key_change.requested"


@register
class FaultEvent(StrEnum):
    REGISTERED = "fault.registered"
    ASSIGNED = "fault.assigned"
    RECATEGORISED = "fault.recategorised"
    RESOLVED = "fault.resolved"
    REPORTED = "fault.reported"
    STATUS_CHANGED = "fault.status_changed"
    NOTE_ADDED = "fault.note_added"
