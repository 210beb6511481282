"""``POST batches``: a station uploads a batch of its journal. On the master the journal applies
it exactly once (``stations.services.journal.receive_batch``); on a business-unit relay the same
call keeps it for forwarding (``stations.services.relay``). A relay hands its stations' batches
up with ``POST batches/forward`` (views_forward), never here."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gridvend.gateways.stations import auth
from gridvend.kernel.errors import DomainError
from gridvend.stations.errors import StationBatchInvalid
from gridvend.stations.models import StationRole, StationStatus
from gridvend.stations.services import relay

# On the master a revoked or suspended station is let through to the journal service, which
# applies a suspended station's sales and refuses (and alarms) a revoked station's journal. A
# relay keeps only an active station's batches: one it has pulled as suspended or revoked is
# refused at once (STATION_NOT_ACTIVE) and its journal waits on the station (docs/stations.md).
UPLOADERS = (StationStatus.ACTIVE, StationStatus.SUSPENDED, StationStatus.REVOKED)
RELAY_UPLOADERS = (StationStatus.ACTIVE,)


@csrf_exempt
@require_POST
def batches(request: HttpRequest) -> HttpResponse:
    try:
        body = auth.read_body(request, int(settings.STATION_MAX_BODY_BYTES))
        on_relay = relay.is_relay()
        station = auth.authenticate(request, body, allow=RELAY_UPLOADERS if on_relay else UPLOADERS)
        data = auth.parse_json(body)
        if not isinstance(data, dict):
            raise StationBatchInvalid(problem="the body is not a JSON object")
        if station.role == StationRole.RELAY:
            raise StationBatchInvalid(problem="a relay forwards with batches/forward")
        return auth.answer(request, relay.take_batch(station=station, body=data, via=None))
    except DomainError as refused:
        return auth.refusal(request, refused)
