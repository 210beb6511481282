"""``POST /station-api/v1/vending-keys``: a selling station asks for the vending keys it lacks
(``stations.services.vending_keys``). On a business-unit relay the station's signed request is
passed up unchanged (the relay holds no vending key, and cannot open those sealed for the
station) and the upstream's answer signed again by the relay."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gridvend.gateways.stations import auth
from gridvend.kernel.errors import DomainError
from gridvend.stations import protocol
from gridvend.stations.client import LinkDown
from gridvend.stations.errors import StationNotUnderRelay
from gridvend.stations.local import this_station
from gridvend.stations.services import relay
from gridvend.stations.services import vending_keys as delivery


@csrf_exempt
@require_POST
def vending_keys(request: HttpRequest) -> HttpResponse:
    try:
        body = auth.read_body(request, delivery.MAX_BODY)
        station = auth.authenticate(request, body)
        if relay.is_relay():
            me = this_station()
            if me is None or not relay.is_ancestor(me.code, station):
                raise StationNotUnderRelay(station=station.code, relay=me.code if me else "")
            try:
                status, data = delivery.pass_up(request.headers, body)
            except LinkDown:
                return HttpResponse(status=502)
            return auth.answer(request, data, status)
        answer = delivery.deliver_vending_keys(
            station=station,
            body=auth.parse_json(body),
            nonce=request.headers.get(protocol.HEADER_NONCE, "")[:64],
        )
    except DomainError as refused:
        return auth.refusal(request, refused)
    return auth.answer(request, answer)
