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


class StationBatchInvalid(DomainError):
    code = StationErrorCode.STATION_BATCH_INVALID
    message_template = gettext_lazy("The batch is not in the protocol's shape: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


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
