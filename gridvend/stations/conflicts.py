"""Who reviews the conflicts found when a station's journal was applied, and the reads of them
(scoped by the station's organisation unit)."""

from __future__ import annotations

from django.db.models import QuerySet

from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.stations.models import StationConflict
from gridvend.vending.permissions import SUPERVISOR_RANK

_UNIT = "station__org_unit__path"


def can_view_station_conflicts(actor: User) -> bool:
    """The conflicts list and a conflict's page: supervisors (vending-point managers and up),
    finance and auditors."""
    return actor.is_active and (
        actor.rank >= SUPERVISOR_RANK
        or actor.has_capability(Capability.FINANCE)
        or actor.has_capability(Capability.AUDITOR)
    )


def can_resolve_station_conflicts(actor: User) -> bool:
    """Closing a conflict with a note: supervisors and finance (auditors only read)."""
    return actor.is_active and (
        actor.rank >= SUPERVISOR_RANK or actor.has_capability(Capability.FINANCE)
    )


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def list_conflicts(
    actor: User, *, station: str = "", kind: str = "", status: str = ""
) -> QuerySet[StationConflict]:
    """The conflicts of the stations in scope, newest first, by station code, kind and status."""
    _require(can_view_station_conflicts(actor))
    found = scoped(
        StationConflict.objects.select_related("station", "entry", "sale"), actor, path=_UNIT
    )
    if station:
        found = found.filter(station__code__iexact=station)
    if kind:
        found = found.filter(kind=kind)
    if status:
        found = found.filter(status=status)
    return found


def get_conflict(actor: User, pk: int) -> StationConflict:
    _require(can_view_station_conflicts(actor))
    return get_scoped(
        StationConflict.objects.select_related(
            "station", "station__org_unit", "entry", "sale", "sale__meter", "resolved_by"
        ),
        actor,
        path=_UNIT,
        pk=pk,
    )
