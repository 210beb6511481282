"""Reads about stations. On the master, scoped to the actor's subtree: the list (with what is
left of each allowance and the open conflicts), one station, its allowances and its batches. On
a station, about this install: what the cashier screen's banner and ``gridvend station status``
show (the age of the data, the allowance left, what waits to be uploaded)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.org import selectors as org_selectors
from gridvend.org.models import Channel, VendingPoint, VendingPointStatus
from gridvend.stations import permissions
from gridvend.stations.local import this_station
from gridvend.stations.models import (
    ConflictStatus,
    LocalEntry,
    Station,
    StationAllowance,
    StationBatch,
)
from gridvend.stations.services import allowances
from gridvend.stations.services.local_allowances import current_allowance


def sold_total_minor() -> int:
    """The cumulative tender of every sale this station journalled (its last sale entry says)."""
    body = LocalEntry.objects.filter(kind="sale").order_by("-seq").values_list("body").first()
    if body is None:
        return 0
    try:
        total = json.loads(body[0])["data"]["sold_total_minor"]
    except (ValueError, KeyError, TypeError):
        return 0
    return int(total) if isinstance(total, int) else 0


def station_overview(now: datetime | None = None) -> dict[str, Any]:
    """This station at a glance (``{"is_station": False}`` on the master). Ages in whole
    seconds; None where a thing has not happened yet."""
    station = this_station()
    if station is None:
        return {"is_station": False}
    now = now or timezone.now()
    # The data is stale (an amber banner) when the last finished pull is older than this.
    stale_after = timedelta(hours=settings.STATION_STALE_HOURS)
    age = None
    if station.last_sync_at is not None:
        age = max(0, int((now - station.last_sync_at).total_seconds()))
    allowance = current_allowance(now)
    sold = sold_total_minor()
    pending = LocalEntry.objects.filter(uploaded_at__isnull=True)
    oldest = pending.order_by("seq").values_list("occurred_at", flat=True).first()
    return {
        "is_station": True,
        "code": station.code,
        "role": station.role,
        "status": station.status,
        "status_label": str(station.get_status_display()),
        "master_url": station.master_url,
        "sync_cursor": station.sync_cursor,
        "snapshot_in_progress": bool(station.sync_snapshot),
        "last_sync_at": station.last_sync_at,
        "data_age_seconds": age,
        "data_is_stale": age is None or age > stale_after.total_seconds(),
        "last_upload_at": station.last_upload_at,
        "last_contact_at": station.last_contact_at,
        "allowance": None
        if allowance is None
        else {
            "sequence": allowance.sequence,
            "currency": allowance.currency,
            "ceiling_minor": allowance.ceiling_minor,
            "valid_until": allowance.valid_until,
            "left_minor": max(0, allowance.ceiling_minor - sold),
        },
        "sold_total_minor": sold,
        "unuploaded_entries": pending.count(),
        "unuploaded_since": oldest,
        # The master's (or relay's) last refusal of an upload: nothing more goes up until a
        # manager clears its cause on the master (docs/stations.md, "A refused upload").
        "upload_refused": None
        if not station.upload_refusal_code
        else {"code": station.upload_refusal_code, "message": station.upload_refusal},
    }


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


def points_for_a_new_station(actor: User) -> QuerySet[VendingPoint]:
    """The vending points in scope a new station may sell at: open points of the offline-station
    channel that no station holds (a revoked station's point is closed and stays its own)."""
    _require(permissions.can_manage_stations(actor))
    return org_selectors.list_vending_points(actor, channel=Channel.OFFLINE_STATION).filter(
        status=VendingPointStatus.ACTIVE, station__isnull=True
    )


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
