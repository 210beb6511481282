"""The station API (docs/stations.md): every call signed by the station, every answer by the
master. Each part of the protocol adds its own lines."""

from __future__ import annotations

from django.urls import path

from gridvend.gateways.stations import views_changes

app_name = "station_api"

urlpatterns = [
    path("changes", views_changes.changes_view, name="changes"),
]
