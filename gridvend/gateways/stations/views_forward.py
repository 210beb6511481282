"""``POST batches/forward``: a business-unit relay hands up a batch of one of the stations below
it, unchanged (the station's own signed entries). The caller is authenticated as the relay; the
named station must be below it; then the batch is applied exactly once (master) or kept for the
next hop (a relay with relays below it)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gridvend.gateways.stations.auth import answer, authenticate, parse_json, read_body, refusal
from gridvend.kernel.errors import DomainError
from gridvend.stations.services import relay


@csrf_exempt
@require_POST
def forward(request: HttpRequest) -> HttpResponse:
    try:
        raw = read_body(request, int(settings.STATION_MAX_BODY_BYTES))
        via = authenticate(request, raw)
        station, body = relay.forwarded_batch(relay=via, data=parse_json(raw))
        result = relay.take_batch(station=station, body=body, via=via)
    except DomainError as error:
        return refusal(request, error)
    return answer(request, result)
