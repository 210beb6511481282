"""``GET /station-api/v1/status``: the station's first call of every sync. A suspended or
revoked station is answered too (that is how it learns to stop); the answer carries its latest
allowance, which the station takes if it is newer than its own. On a business-unit relay the
stations below it are answered from the relay's copy (``relay.child_status``: their status and
allowance as pulled from the master, their journal as far as the relay holds it)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from gridvend.gateways.stations import auth
from gridvend.kernel.errors import DomainError
from gridvend.stations.errors import StationInvalid
from gridvend.stations.models import StationStatus
from gridvend.stations.services import contact, relay


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    try:
        station = auth.authenticate(
            request,
            b"",
            allow=(StationStatus.ACTIVE, StationStatus.SUSPENDED, StationStatus.REVOKED),
        )
        raw = request.GET.get("unsynced_since", "")
        try:
            unsynced = contact.parse_unsynced(raw)
        except ValueError:
            raise StationInvalid(field="unsynced_since", problem="not a protocol time") from None
        if relay.is_relay():
            return auth.answer(request, relay.child_status(station, unsynced_since=unsynced))
        return auth.answer(request, contact.note_contact(station, unsynced_since=unsynced))
    except DomainError as refused:
        return auth.refusal(request, refused)
