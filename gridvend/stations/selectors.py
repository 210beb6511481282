"""Reads about this install as a station: what the cashier screen's banner and
``gridvend station status`` show (the age of the data, the allowance left, what waits to be
uploaded)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from gridvend.stations.local import this_station
from gridvend.stations.models import LocalEntry
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
    }
