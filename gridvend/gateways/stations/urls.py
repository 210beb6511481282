"""The station API under /station-api/v1/ (docs/stations.md, "Wire protocol"): every call but
``enrol`` is signed by the station and every answer by the master."""

from django.urls import path

from gridvend.gateways.stations import views_enrol, views_status

app_name = "station_api"

urlpatterns = [
    path("enrol", views_enrol.enrol, name="enrol"),
    path("status", views_status.status, name="status"),
]
