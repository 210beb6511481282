"""The audit event types that the station services write (master, relay and station)."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class StationEvent(StrEnum):
    REGISTERED = "station.registered"
    # A new one-time enrolment code for a station still waiting for enrolment.
    CODE_ISSUED = "station.code_issued"
    # A wrong enrolment code (counted; the enrolment locks after a few).
    ENROL_REFUSED = "station.enrol_refused"
    ENROLLED = "station.enrolled"
    SUSPENDED = "station.suspended"
    REINSTATED = "station.reinstated"
    REVOKED = "station.revoked"
    ALLOWANCE_ISSUED = "station.allowance_issued"
    BATCH_APPLIED = "station.batch_applied"
    # A batch refused for a broken chain, a bad signature, a revoked station or a forged
    # allowance: the supervisor's alarm (nothing of the batch is applied).
    BATCH_REJECTED = "station.batch_rejected"
    # On a business-unit relay: a child's batch verified and kept, then acknowledged upstream.
    BATCH_STORED = "station.batch_stored"
    BATCH_FORWARDED = "station.batch_forwarded"
    # Vending keys sealed for a selling station after its enrolment (a new supply group).
    VENDING_KEYS_SENT = "station.vending_keys_sent"
    CONFLICT_FLAGGED = "station.conflict_flagged"
    CONFLICT_RESOLVED = "station.conflict_resolved"
    # On the station itself.
    INITIALISED = "station.initialised"
    ALLOWANCE_ACCEPTED = "station.allowance_accepted"
    VENDING_KEYS_RECEIVED = "station.vending_keys_received"
    ALLOWANCE_REFUSED = "station.allowance_refused"
    # The master refused an upload (kept for the operator until an upload goes through).
    UPLOAD_REFUSED = "station.upload_refused"
    # The relay above enrolled again: its new key taken on the master's signed statement.
    UPSTREAM_KEY_CHANGED = "station.upstream_key_changed"
    # The upstream holds less of the journal than it had acknowledged (a relay that lost its
    # disk): the entries after its position are sent again.
    UPLOAD_REWOUND = "station.upload_rewound"
