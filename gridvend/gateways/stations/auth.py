"""Who is calling and the signed answer: every station request carries its station code, a
time, a nonce and an Ed25519 signature over method, path, time, nonce and the body's hash; every
answer (refusals too) is signed by this install's signing key over the request's nonce and the
answer's body. A body is capped before it is read.

Replay: a request older or newer than ``STATION_CLOCK_SKEW_SECONDS`` is refused; within that
window a replayed request only repeats what it asked (uploads are idempotent by batch id, reads
are answered again, signed to the same nonce)."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from gridvend.kernel.errors import DomainError
from gridvend.stations import protocol
from gridvend.stations.errors import StationAuthFailed, StationNotActive, StationUnknown
from gridvend.stations.models import LocalStation, Station, StationRole, StationStatus
from gridvend.stations.services import signing

logger = logging.getLogger("gridvend.stations")

# Refusal code -> HTTP status; anything else a refusal raises is a 409 (a rule of the business).
HTTP_STATUS = {
    "STATION_UNKNOWN": 403,
    "STATION_AUTH_FAILED": 403,
    "STATION_NOT_ACTIVE": 403,
    "STATION_CHANGES_QUERY_INVALID": 400,
    "STATION_ENROL_REFUSED": 403,
    "STATION_ENROL_LOCKED": 403,
    "STATION_BATCH_INVALID": 400,
    "STATION_JOURNAL_REJECTED": 422,
}


def read_body(request: HttpRequest, limit: int) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or len(declared) > 12 or int(declared) > limit:
        raise StationAuthFailed(problem=f"the body is larger than {limit} bytes")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise StationAuthFailed(problem=f"the body is larger than {limit} bytes")
    return raw


def authenticate(
    request: HttpRequest, body: bytes, *, allow: tuple[str, ...] = (StationStatus.ACTIVE,)
) -> Station:
    """The station that signed this request, if its status is in ``allow``; refused otherwise
    (unknown station and bad signature are told apart only in the log)."""
    code = request.headers.get(protocol.HEADER_STATION, "")
    stamp = request.headers.get(protocol.HEADER_TIME, "")
    nonce = request.headers.get(protocol.HEADER_NONCE, "")
    signature = request.headers.get(protocol.HEADER_SIGNATURE, "")
    if not (0 < len(code) <= 40 and 0 < len(nonce) <= 64 and len(signature) <= 128):
        raise StationAuthFailed(problem="the station's headers are missing")
    try:
        sent_at = protocol.parse_utc(stamp)
    except ValueError:
        raise StationAuthFailed(problem="the request's time is not readable") from None
    skew = timedelta(seconds=int(settings.STATION_CLOCK_SKEW_SECONDS))
    if abs(timezone.now() - sent_at) > skew:
        raise StationAuthFailed(problem="the request's time is too far from the master's clock")
    station = Station.objects.select_related("org_unit", "vending_point").filter(code=code).first()
    if station is None or not station.public_key:
        logger.warning("station request from an unknown or unenrolled station %r", code[:40])
        raise StationUnknown()
    # The path with its query string: a cursor or a time in the query is signed too.
    query = request.META.get("QUERY_STRING", "")
    target = request.path + (f"?{query}" if query else "")
    message = protocol.request_message(request.method or "", target, stamp, nonce, body)
    try:
        protocol.verify(station.public_key, message, signature)
    except protocol.BadSignature:
        logger.warning("station %s: a request whose signature does not verify", station.code)
        raise StationAuthFailed(problem="the signature does not verify") from None
    if station.status not in allow:
        raise StationNotActive(station=station.code, status=station.status)
    return station


def answer(request: HttpRequest, data: dict[str, Any], status: int = 200) -> HttpResponse:
    """``data`` as JSON, signed over the request's nonce and the body."""
    body = protocol.canonical(data).encode("utf-8")
    nonce = request.headers.get(protocol.HEADER_NONCE, "")[:64]
    response = HttpResponse(body, status=status, content_type="application/json")
    response[protocol.HEADER_MASTER_SIGNATURE] = protocol.sign(
        signing.signing_key().seed, protocol.answer_message(nonce, body)
    )
    response["Cache-Control"] = "no-store"
    statement = relay_key_statement()
    if statement:
        # A relay vouches for its key with the master's statement (docs/stations.md).
        response[protocol.HEADER_RELAY_KEY] = statement
    return response


def relay_key_statement() -> str:
    """On a relay: the ``X-Relay-Key`` header's value (the master's statement of this relay's
    key, from its enrolment); empty elsewhere."""
    text = (
        LocalStation.objects.filter(pk=1, role=StationRole.RELAY)
        .values_list("key_statement", flat=True)
        .first()
    )
    if not text:
        return ""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def refusal(request: HttpRequest, error: DomainError) -> HttpResponse:
    """A refusal in the API's one shape: ``{"error": {"code", "message", "params"}}``."""
    params = {k: v for k, v in error.params.items() if isinstance(v, str | int | bool)}
    data = {"error": {"code": error.code, "message": str(error.message), "params": params}}
    return answer(request, data, HTTP_STATUS.get(error.code, 409))


def parse_json(body: bytes) -> Any:
    try:
        return protocol.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise StationAuthFailed(problem="the body is not JSON") from None
