"""``POST batches``: a station (or the relay above it) uploads journal entries; the master
verifies and applies them once (``stations.services.journal.receive_batch``)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gridvend.gateways.stations import auth
from gridvend.kernel.errors import DomainError
from gridvend.stations.errors import StationBatchInvalid, StationUnknown
from gridvend.stations.models import Station, StationRole, StationStatus
from gridvend.stations.services.journal import receive_batch

# A revoked or suspended station is let through to the journal service, which applies a
# suspended station's sales and refuses (and alarms) a revoked station's journal.
UPLOADERS = (StationStatus.ACTIVE, StationStatus.SUSPENDED, StationStatus.REVOKED)


@csrf_exempt
@require_POST
def batches(request: HttpRequest) -> HttpResponse:
    try:
        body = auth.read_body(request, int(settings.STATION_MAX_BODY_BYTES))
        caller = auth.authenticate(request, body, allow=UPLOADERS)
        data = auth.parse_json(body)
        if not isinstance(data, dict):
            raise StationBatchInvalid(problem="the body is not a JSON object")
        station, via = caller, None
        named = data.get("station")
        if named is not None:
            # A relay forwarding the journal of a station under it names that station.
            if caller.role != StationRole.RELAY or not isinstance(named, str):
                raise StationBatchInvalid(problem="only a relay names the station")
            if caller.status != StationStatus.ACTIVE:
                raise StationBatchInvalid(problem="the relay is not active")
            found = Station.objects.select_related("org_unit", "vending_point").filter(
                code=named[:40], parent=caller
            )
            station = found.first() or _unknown()
            via = caller
        elif caller.role == StationRole.RELAY:
            raise StationBatchInvalid(problem="a relay names the station it forwards for")
        return auth.answer(request, receive_batch(station=station, body=data, via=via))
    except DomainError as refused:
        return auth.refusal(request, refused)


def _unknown() -> Station:
    raise StationUnknown()
