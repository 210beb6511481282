"""``POST batches``: a station uploads a batch of its journal. On the master the journal applies
it exactly once (``stations.services.journal.receive_batch``, the master-apply part); on a
business-unit relay the same call keeps it for forwarding (``stations.services.relay``)."""

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
def batches(request: HttpRequest) -> HttpResponse:
    try:
        raw = read_body(request, int(settings.STATION_MAX_BODY_BYTES))
        station = authenticate(request, raw)
        data = parse_json(raw)
        # A relay keeps the batch for forwarding; the master applies it (relay.take_batch).
        result = relay.take_batch(station=station, body=data, via=None)
    except DomainError as error:
        return refusal(request, error)
    return answer(request, result)
