"""The station's periodic job: the sync cycle every minute (status, upload, pull), which does
nothing on the master and keeps its own back-off on a station (``services.sync``)."""

from __future__ import annotations

from typing import Any

SYNC_JOB = "gridvend.stations.tasks.sync_station"
SYNC_SCHEDULE = "gridvend.stations.sync"
SYNC_CRON = "* * * * *"


def sync_station() -> dict[str, Any]:
    """One sync cycle if this install is a station and its back-off allows it."""
    from gridvend.stations.local import is_station
    from gridvend.stations.services.sync import run_sync_cycle

    if not is_station():
        return {"station": False}
    return run_sync_cycle().as_dict()
