"""The station API, ``/station-api/v1/`` (docs/stations.md, "Wire protocol"): what stations call
on the master, or on the business-unit relay above them. Every call but ``enrol`` is signed by
the station, every answer by the master (or the relay)."""

from __future__ import annotations

from django.urls import path

from gridvend.gateways.stations import (
    views_batches,
    views_changes,
    views_enrol,
    views_forward,
    views_status,
    views_vending_keys,
)

app_name = "station_api"

urlpatterns = [
    path("enrol", views_enrol.enrol, name="enrol"),
    path("status", views_status.status, name="status"),
    path("batches", views_batches.batches, name="batches"),
    path("batches/forward", views_forward.forward, name="batches-forward"),
    path("changes", views_changes.changes_view, name="changes"),
    path("vending-keys", views_vending_keys.vending_keys, name="vending-keys"),
]
