"""The station API under /station-api/v1/ (docs/stations.md, "Wire protocol"): each part of
the protocol adds its own lines."""

from django.urls import path

from gridvend.gateways.stations import views_batches

app_name = "station_api"

urlpatterns = [
    path("batches", views_batches.batches, name="batches"),
]
