"""``POST /station-api/v1/enrol``: a pending station binds its public key with its one-time code,
and sends the ephemeral X25519 key its vending keys are wrapped for (``exchange_key``). Not
signed (the station has no registered key yet): the answer carries ``X-Enrol-Proof``, an HMAC of
its body under a key derived from the code, besides the master's signature."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from gridvend.gateways.stations import auth
from gridvend.kernel.errors import DomainError
from gridvend.stations.errors import StationEnrolRefused
from gridvend.stations.services import enrolment

FIELDS = {"station", "code", "public_key", "app_version", "exchange_key"}
# ``under_relay``: whether ``station init`` was given --via (checked before the code is used).
OPTIONAL = {"under_relay"}


@csrf_exempt
@require_POST
def enrol(request: HttpRequest) -> HttpResponse:
    try:
        body = auth.read_body(request, enrolment.MAX_ENROL_BODY)
        data = auth.parse_json(body)
        if not isinstance(data, dict) or not FIELDS <= set(data) <= FIELDS | OPTIONAL:
            raise StationEnrolRefused()
        answer = enrolment.enrol_station(
            code=data["station"],
            enrol_code=data["code"],
            public_key=data["public_key"],
            app_version=data["app_version"],
            exchange_key=data["exchange_key"],
            under_relay=data.get("under_relay"),
        )
    except DomainError as refused:
        return auth.refusal(request, refused)
    response = auth.answer(request, answer)
    response[enrolment.HEADER_PROOF] = enrolment.answer_proof(
        enrol_code=data["code"], station_code=data["station"], body=response.content
    )
    return response
