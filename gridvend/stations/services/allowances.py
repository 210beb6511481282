"""Credit allowances on the master: a manager issues the next one (a top-up raises the
cumulative ceiling), signed with the master's signing key; what is left is the ceiling less what
the master has applied of the station's sales, by its own count (docs/stations.md,
"Allowances")."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.stations import permissions, protocol
from gridvend.stations.errors import StationAllowanceInvalid, StationStateInvalid
from gridvend.stations.events import StationEvent
from gridvend.stations.models import (
    Station,
    StationAllowance,
    StationRole,
    StationStatus,
)
from gridvend.stations.services import signing

MAX_CEILING_MINOR = 10**12 - 1
MAX_VALIDITY = timedelta(days=31)


def latest_allowance(station: Station) -> StationAllowance | None:
    return StationAllowance.objects.filter(station=station).order_by("-sequence").first()


def allowance_wire(allowance: StationAllowance | None) -> dict[str, str] | None:
    """The allowance as it travels: the exact payload the master signed and its signature."""
    if allowance is None:
        return None
    return {"payload": allowance.payload, "signature": allowance.signature}


def sold_total_minor(station: Station) -> int:
    """What the station has sold offline, as far as the master has applied its journal, by the
    master's own count (``Station.sold_total_minor``: the tender of every sale it applied), never
    the cumulative total the station's entries claim (a claim that does not add up is flagged
    as ``allowance_exceeded`` when the sale is applied)."""
    return int(station.sold_total_minor)


def allowance_left_minor(station: Station, allowance: StationAllowance | None = None) -> int | None:
    """The ceiling less what was sold (never below 0), or None when no allowance was issued."""
    allowance = allowance if allowance is not None else latest_allowance(station)
    if allowance is None:
        return None
    return max(0, allowance.ceiling_minor - sold_total_minor(station))


def issue_allowance(
    *, actor: User, station: Station, ceiling: int, valid_until: datetime
) -> StationAllowance:
    """The station's next allowance: a cumulative ceiling (minor units of the installation's
    currency) no lower than the last one, valid from now until ``valid_until`` (at most 31
    days ahead). The station takes it at its next contact (or at enrolment)."""
    if not permissions.can_manage_stations(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, station.org_unit)
    if not isinstance(ceiling, int) or isinstance(ceiling, bool):
        raise StationAllowanceInvalid(field="ceiling", problem="a whole number of minor units")
    if not 0 < ceiling <= MAX_CEILING_MINOR:
        raise StationAllowanceInvalid(field="ceiling", problem="above 0 and below 10^12")
    now = timezone.now()
    if valid_until.tzinfo is None:
        raise StationAllowanceInvalid(field="valid_until", problem="a time with its zone")
    if valid_until <= now:
        raise StationAllowanceInvalid(field="valid_until", problem="in the future")
    if valid_until > now + MAX_VALIDITY:
        raise StationAllowanceInvalid(field="valid_until", problem="at most 31 days ahead")
    with transaction.atomic(durable=True):
        # The station's row is the lock: two managers topping up at once take turns.
        locked = Station.objects.select_for_update().select_related("org_unit").get(pk=station.pk)
        if locked.role != StationRole.STATION or locked.status == StationStatus.REVOKED:
            raise StationStateInvalid(station=locked.code, status=locked.status)
        previous = latest_allowance(locked)
        if previous is not None and ceiling < previous.ceiling_minor:
            raise StationAllowanceInvalid(
                field="ceiling",
                problem=f"a top-up: not below the last ceiling {previous.ceiling_minor}",
            )
        signed = protocol.make_allowance(
            seed=signing.signing_key().seed,
            station=locked.code,
            sequence=(previous.sequence if previous else 0) + 1,
            ceiling_minor=ceiling,
            currency=settings.CURRENCY,
            # A station whose clock runs a little behind the master's takes it at once.
            valid_from=now - timedelta(seconds=int(settings.STATION_CLOCK_SKEW_SECONDS)),
            valid_until=valid_until,
            issued_at=now,
        )
        allowance = StationAllowance.objects.create(
            station=locked,
            sequence=signed.sequence,
            ceiling_minor=signed.ceiling_minor,
            currency=signed.currency,
            valid_from=signed.valid_from,
            valid_until=signed.valid_until,
            payload=signed.payload,
            signature=signed.signature,
            issued_by=actor,
            issued_at=now,
        )
        record(
            actor=actor,
            event_type=StationEvent.ALLOWANCE_ISSUED,
            target=locked,
            before=(
                {"sequence": previous.sequence, "ceiling_minor": previous.ceiling_minor}
                if previous
                else None
            ),
            after={
                "sequence": allowance.sequence,
                "ceiling_minor": allowance.ceiling_minor,
                "currency": allowance.currency,
                "valid_until": protocol.utc_text(allowance.valid_until),
            },
        )
    return allowance
