"""Refusals of the station protocol and services with stable codes. The station API maps them
to its JSON error in one place (``gateways/stations/errors.py``)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class StationErrorCode(StrEnum):
    STATION_UNKNOWN = "STATION_UNKNOWN"
    STATION_NOT_ACTIVE = "STATION_NOT_ACTIVE"
    STATION_AUTH_FAILED = "STATION_AUTH_FAILED"
    STATION_ONLINE_ONLY = "STATION_ONLINE_ONLY"
    STATION_NO_ALLOWANCE = "STATION_NO_ALLOWANCE"
    STATION_ALLOWANCE_EXPIRED = "STATION_ALLOWANCE_EXPIRED"
    STATION_ALLOWANCE_EXHAUSTED = "STATION_ALLOWANCE_EXHAUSTED"
    STATION_CLOCK_BEHIND_JOURNAL = "STATION_CLOCK_BEHIND_JOURNAL"
    STATION_NO_TID_LANE = "STATION_NO_TID_LANE"
    STATION_RELAY_REJECTED = "STATION_RELAY_REJECTED"
    STATION_NOT_UNDER_RELAY = "STATION_NOT_UNDER_RELAY"
    STATION_CHANGES_QUERY_INVALID = "STATION_CHANGES_QUERY_INVALID"
    STATION_BATCH_INVALID = "STATION_BATCH_INVALID"
    STATION_BATCH_REUSED = "STATION_BATCH_REUSED"
    STATION_JOURNAL_REJECTED = "STATION_JOURNAL_REJECTED"
    STATION_CONFLICT_RESOLVED = "STATION_CONFLICT_RESOLVED"


class StationUnknown(DomainError):
    code = StationErrorCode.STATION_UNKNOWN
    message_template = gettext_lazy("No station is registered under this code.")


class StationNotActive(DomainError):
    code = StationErrorCode.STATION_NOT_ACTIVE
    message_template = gettext_lazy("Station %(station)s is %(status)s: it may not do this.")

    def __init__(self, *, station: str, status: str) -> None:
        super().__init__(station=station, status=status)


class StationAuthFailed(DomainError):
    code = StationErrorCode.STATION_AUTH_FAILED
    message_template = gettext_lazy("The request's signature could not be verified: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class StationOnlineOnly(DomainError):
    """Offline a station makes credit sales only: everything else needs the master."""

    code = StationErrorCode.STATION_ONLINE_ONLY
    message_template = gettext_lazy(
        "A vending station cannot do this offline (%(operation)s): do it on the master."
    )

    def __init__(self, *, operation: str) -> None:
        super().__init__(operation=operation[:40])


class StationNoAllowance(DomainError):
    code = StationErrorCode.STATION_NO_ALLOWANCE
    message_template = gettext_lazy(
        "This station has no credit allowance for %(currency)s sales in force: "
        "sync with the master to receive one."
    )

    def __init__(self, *, currency: str) -> None:
        super().__init__(currency=currency)


class StationAllowanceExpired(DomainError):
    code = StationErrorCode.STATION_ALLOWANCE_EXPIRED
    message_template = gettext_lazy(
        "This station's credit allowance expired at %(valid_until)s: sync with the master."
    )

    def __init__(self, *, valid_until: str) -> None:
        super().__init__(valid_until=valid_until)


class StationAllowanceExhausted(DomainError):
    code = StationErrorCode.STATION_ALLOWANCE_EXHAUSTED
    message_template = gettext_lazy(
        "This sale would pass the station's credit allowance: %(room)s is left to sell "
        "until a manager tops it up."
    )

    def __init__(self, *, room: str, room_minor: int, currency: str) -> None:
        super().__init__(room=room, room_minor=room_minor, currency=currency)


class StationClockBehindJournal(DomainError):
    """The station's clock reads earlier than an entry its journal already holds: it was set
    back (by hand or by a dead clock battery). Selling on it could pass an allowance's expiry,
    so nothing is sold until the clock is right again."""

    code = StationErrorCode.STATION_CLOCK_BEHIND_JOURNAL
    message_template = gettext_lazy(
        "This station's clock reads %(clock)s, earlier than the last entry of its journal "
        "(%(last_entry)s): it was set back. Set the date and time right before selling."
    )

    def __init__(self, *, clock: str, last_entry: str) -> None:
        super().__init__(clock=clock, last_entry=last_entry)


class StationNoTidLane(DomainError):
    """A station sells only to meters whose unit splits its TIDs into lanes, and only in its own
    lane: otherwise its tokens could share a TID with the master's."""

    code = StationErrorCode.STATION_NO_TID_LANE
    message_template = gettext_lazy(
        "Meter %(meter_number)s cannot be sold to offline: its TIDs are not split into "
        "station lanes."
    )

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class StationRelayRejected(DomainError):
    """A business-unit relay refused a child's batch: its shape, chain or a signature."""

    code = StationErrorCode.STATION_RELAY_REJECTED
    message_template = gettext_lazy(
        "The relay refused the batch of station %(station)s at entry %(seq)s: %(problem)s."
    )

    def __init__(self, *, station: str, seq: int, problem: str) -> None:
        super().__init__(station=station, seq=seq, problem=problem[:200])


class StationNotUnderRelay(DomainError):
    """A relay named a station that is not below it, or the caller is not a relay."""

    code = StationErrorCode.STATION_NOT_UNDER_RELAY
    message_template = gettext_lazy(
        "Station %(station)s is not served by relay %(relay)s: it may not forward its journal."
    )

    def __init__(self, *, station: str, relay: str) -> None:
        super().__init__(station=station[:40], relay=relay[:40])


class StationChangesQueryInvalid(DomainError):
    code = StationErrorCode.STATION_CHANGES_QUERY_INVALID
    message_template = gettext_lazy("The changes asked for cannot be read: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class StationBatchInvalid(DomainError):
    code = StationErrorCode.STATION_BATCH_INVALID
    message_template = gettext_lazy("The batch is not in the protocol's shape: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class StationRegistrationErrorCode(StrEnum):
    STATION_INVALID = "STATION_INVALID"
    STATION_TAKEN = "STATION_TAKEN"
    STATION_STATE_INVALID = "STATION_STATE_INVALID"
    STATION_NO_FREE_LANE = "STATION_NO_FREE_LANE"
    STATION_MOVE_LANE_CLASH = "STATION_MOVE_LANE_CLASH"
    STATION_ALLOWANCE_INVALID = "STATION_ALLOWANCE_INVALID"
    STATION_ENROL_REFUSED = "STATION_ENROL_REFUSED"
    STATION_ENROL_LOCKED = "STATION_ENROL_LOCKED"
    STATION_ENROL_FAILED = "STATION_ENROL_FAILED"
    STATION_RELAY_NOT_ENROLLED = "STATION_RELAY_NOT_ENROLLED"
    STATION_ENROL_RELAY_MISMATCH = "STATION_ENROL_RELAY_MISMATCH"


class StationInvalid(DomainError):
    code = StationRegistrationErrorCode.STATION_INVALID
    message_template = gettext_lazy("The station setting %(field)s is not valid: %(problem)s.")

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem[:200])


class StationTaken(DomainError):
    code = StationRegistrationErrorCode.STATION_TAKEN
    message_template = gettext_lazy("Another station already uses this %(field)s.")

    def __init__(self, *, field: str) -> None:
        super().__init__(field=field)


class StationStateInvalid(DomainError):
    code = StationRegistrationErrorCode.STATION_STATE_INVALID
    message_template = gettext_lazy("Station %(station)s is %(status)s: this cannot be done now.")

    def __init__(self, *, station: str, status: str) -> None:
        super().__init__(station=station, status=status)


class StationNoFreeLane(DomainError):
    code = StationRegistrationErrorCode.STATION_NO_FREE_LANE
    message_template = gettext_lazy(
        "Every TID lane of %(unit)s is taken by a live station (at most %(lanes)s): revoke one "
        "before registering another."
    )

    def __init__(self, *, unit: str, lanes: int) -> None:
        super().__init__(unit=unit, lanes=lanes)


class StationMoveLaneClash(DomainError):
    """A move in the tree would let two stations sell to the same meters in one TID lane (a
    live station's lane cannot change: it learnt it at enrolment)."""

    code = StationRegistrationErrorCode.STATION_MOVE_LANE_CLASH
    message_template = gettext_lazy(
        "%(unit)s cannot be moved under %(parent)s: stations %(station)s and %(other)s would "
        "both sell to its meters in TID lane %(lane)s. Revoke one of them and move the unit "
        "once that station's allowance has expired."
    )

    def __init__(self, *, unit: str, parent: str, station: str, other: str, lane: int) -> None:
        super().__init__(unit=unit, parent=parent, station=station, other=other, lane=lane)


class StationAllowanceInvalid(DomainError):
    code = StationRegistrationErrorCode.STATION_ALLOWANCE_INVALID
    message_template = gettext_lazy("The allowance's %(field)s is not valid: %(problem)s.")

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem[:200])


class StationEnrolRefused(DomainError):
    """Wrong, used or expired enrolment code, or a station not waiting for enrolment: told apart
    in the audit trail, not to the caller."""

    code = StationRegistrationErrorCode.STATION_ENROL_REFUSED
    message_template = gettext_lazy(
        "The enrolment was refused: the station code or the enrolment code is wrong, used or "
        "expired. Ask the master's operator for a new code."
    )


class StationEnrolLocked(DomainError):
    code = StationRegistrationErrorCode.STATION_ENROL_LOCKED
    message_template = gettext_lazy(
        "Too many wrong enrolment codes for this station: its enrolment is locked until the "
        "master's operator issues a new code."
    )


class StationRelayNotEnrolled(DomainError):
    """A station registered under a relay enrols only once the relay has: its enrolment answer
    names the relay's key (told only to a caller who gave the right code, and the code is kept)."""

    code = StationRegistrationErrorCode.STATION_RELAY_NOT_ENROLLED
    message_template = gettext_lazy(
        "Relay %(relay)s, which this station reaches the master through, is not enrolled yet: "
        "enrol the relay first, then this station with the same code."
    )

    def __init__(self, *, relay: str) -> None:
        super().__init__(relay=relay[:40])


class StationEnrolRelayMismatch(DomainError):
    """``station init --via`` (or its absence) does not match the station's registration: told
    only to a caller who gave the right code, which stays good for a second try."""

    code = StationRegistrationErrorCode.STATION_ENROL_RELAY_MISMATCH
    message_template = gettext_lazy(
        "Station %(station)s is registered otherwise than this enrolment says (--via): the "
        "enrolment code is still good."
    )
    variant_param = "registered"
    message_variants = {
        "relay": gettext_lazy(
            "Station %(station)s is registered under a relay: run station init again with the "
            "relay's address in --via (the enrolment code is still good)."
        ),
        "none": gettext_lazy(
            "Station %(station)s is registered under no relay: run station init again without "
            "--via (the enrolment code is still good)."
        ),
    }

    def __init__(self, *, station: str, registered: str) -> None:
        super().__init__(station=station[:40], registered=registered)


class StationEnrolFailed(DomainError):
    """Station side: `gridvend station init` could not finish (nothing was kept)."""

    code = StationRegistrationErrorCode.STATION_ENROL_FAILED
    message_template = gettext_lazy("The station could not be enrolled: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:300])


class StationBatchReused(DomainError):
    code = StationErrorCode.STATION_BATCH_REUSED
    message_template = gettext_lazy(
        "Batch %(batch_id)s was already received with other contents; send new entries under a "
        "new batch id."
    )

    def __init__(self, *, batch_id: str) -> None:
        super().__init__(batch_id=batch_id[:64])


class StationJournalRejected(DomainError):
    """The whole batch is refused and nothing of it applied; ``reason`` is one of the stable
    reason codes of ``stations.services.journal.Reason`` and ``seq`` the first entry at fault."""

    code = StationErrorCode.STATION_JOURNAL_REJECTED
    message_template = gettext_lazy(
        "The station's journal was rejected (%(reason)s at entry %(seq)s): %(problem)s. Nothing "
        "of the batch was applied."
    )

    def __init__(self, *, reason: str, seq: int, problem: str) -> None:
        super().__init__(reason=reason, seq=seq, problem=problem[:200])


class StationConflictResolved(DomainError):
    code = StationErrorCode.STATION_CONFLICT_RESOLVED
    message_template = gettext_lazy("This conflict was already resolved.")

    def __init__(self) -> None:
        super().__init__()
