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
    STATION_RELAY_REJECTED = "STATION_RELAY_REJECTED"
    STATION_NOT_UNDER_RELAY = "STATION_NOT_UNDER_RELAY"


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
