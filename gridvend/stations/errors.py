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


class StationRegistrationErrorCode(StrEnum):
    STATION_INVALID = "STATION_INVALID"
    STATION_TAKEN = "STATION_TAKEN"
    STATION_STATE_INVALID = "STATION_STATE_INVALID"
    STATION_NO_FREE_LANE = "STATION_NO_FREE_LANE"
    STATION_ALLOWANCE_INVALID = "STATION_ALLOWANCE_INVALID"
    STATION_ENROL_REFUSED = "STATION_ENROL_REFUSED"
    STATION_ENROL_LOCKED = "STATION_ENROL_LOCKED"
    STATION_ENROL_FAILED = "STATION_ENROL_FAILED"


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


class StationEnrolFailed(DomainError):
    """Station side: `gridvend station init` could not finish (nothing was kept)."""

    code = StationRegistrationErrorCode.STATION_ENROL_FAILED
    message_template = gettext_lazy("The station could not be enrolled: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:300])
