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
    STATION_CHANGES_QUERY_INVALID = "STATION_CHANGES_QUERY_INVALID"


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


class StationChangesQueryInvalid(DomainError):
    code = StationErrorCode.STATION_CHANGES_QUERY_INVALID
    message_template = gettext_lazy("The changes asked for cannot be read: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])
