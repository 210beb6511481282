"""A station's contact with the master (``GET status``): when it was last heard from, since when
it holds journal entries it has not uploaded, and what it is told back (its status, the reason,
its latest allowance and the journal as far as the master applied it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from gridvend.stations import protocol
from gridvend.stations.models import Station
from gridvend.stations.services import allowances

# A station's clock may run ahead a little; an "unsynced since" further in the future is refused.
MAX_AHEAD = timedelta(days=1)


def parse_unsynced(raw: str) -> datetime | None:
    """The ``unsynced_since`` query parameter: empty (nothing waits to be uploaded) or a
    protocol time not far in the future. Raises ValueError otherwise."""
    if raw == "":
        return None
    moment = protocol.parse_utc(raw)
    if moment > timezone.now() + MAX_AHEAD:
        raise ValueError("unsynced_since is in the future")
    return moment


def note_contact(station: Station, *, unsynced_since: datetime | None) -> dict[str, Any]:
    """Record the contact and answer the station's status (one UPDATE: a contact is not an
    audited change, it is the heartbeat the station list shows)."""
    now = timezone.now()
    Station.objects.filter(pk=station.pk).update(last_contact_at=now, unsynced_since=unsynced_since)
    fresh = Station.objects.only("status", "status_reason", "last_seq", "last_hash").get(
        pk=station.pk
    )
    return {
        "status": fresh.status,
        "reason": fresh.status_reason,
        "allowance": allowances.allowance_wire(allowances.latest_allowance(station)),
        "last_seq": fresh.last_seq,
        "last_hash": fresh.last_hash,
        "server_time": protocol.utc_text(now),
    }
