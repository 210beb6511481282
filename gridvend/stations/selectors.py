"""Reads of the stations on the master, scoped to the actor's subtree: the list (with what is
left of each allowance and the open conflicts), one station, its allowances and its batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.stations import permissions
from gridvend.stations.models import (
    ConflictStatus,
    Station,
    StationAllowance,
    StationBatch,
)
from gridvend.stations.services import allowances


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def list_stations(actor: User, *, status: str = "", q: str = "") -> QuerySet[Station]:
    """The stations and relays in scope, by status and by code or name; each with its count of
    open conflicts (``open_conflicts``)."""
    _require(permissions.can_view_stations(actor))
    found = scoped(
        Station.objects.select_related("org_unit", "vending_point", "parent"), actor
    ).annotate(open_conflicts=Count("conflicts", filter=Q(conflicts__status=ConflictStatus.OPEN)))
    if status:
        found = found.filter(status=status)
    if q:
        found = found.filter(Q(code__icontains=q) | Q(name__icontains=q))
    return found.order_by("code")


def get_station(actor: User, pk: int) -> Station:
    _require(permissions.can_view_stations(actor))
    return get_scoped(
        Station.objects.select_related("org_unit", "vending_point", "parent"), actor, pk=pk
    )


@dataclass(frozen=True)
class StationFigures:
    """What the control screens show beside a station's row."""

    allowance: StationAllowance | None
    left_minor: int | None
    sold_minor: int
    open_conflicts: int
    unsynced_since: datetime | None

    @property
    def allowance_expired(self) -> bool:
        from django.utils import timezone

        return self.allowance is not None and self.allowance.valid_until <= timezone.now()


def station_figures(actor: User, station: Station) -> StationFigures:
    _require(permissions.can_view_stations(actor))
    allowance = allowances.latest_allowance(station)
    sold = allowances.sold_total_minor(station)
    opened = getattr(station, "open_conflicts", None)
    if opened is None:
        opened = station.conflicts.filter(status=ConflictStatus.OPEN).count()
    return StationFigures(
        allowance=allowance,
        left_minor=None if allowance is None else max(0, allowance.ceiling_minor - sold),
        sold_minor=sold,
        open_conflicts=opened,
        unsynced_since=station.unsynced_since,
    )


def list_station_allowances(actor: User, station: Station) -> QuerySet[StationAllowance]:
    _require(permissions.can_view_stations(actor))
    return (
        StationAllowance.objects.filter(station=station)
        .select_related("issued_by")
        .order_by("-sequence")
    )


def list_station_batches(actor: User, station: Station) -> QuerySet[StationBatch]:
    _require(permissions.can_view_stations(actor))
    return (
        StationBatch.objects.filter(station=station)
        .select_related("via")
        .order_by("-received_at", "-pk")
    )
