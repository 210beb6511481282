"""``GET changes``: the down-sync page a station pulls (docs/stations.md, "Down-sync"). The
query is parsed by a bounded form before anything is read; every answer is signed."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from gridvend.gateways.stations import auth
from gridvend.kernel.errors import DomainError
from gridvend.stations import changes, protocol
from gridvend.stations.errors import StationChangesQueryInvalid

# Cursors are log numbers: a bigint.
MAX_CURSOR = 2**62


# ASCII digits only: int() would read other scripts' digits ("٣٤") as numbers too.
_digits = RegexValidator(r"\A[0-9]{1,19}\Z")


class ChangesQuery(forms.Form):
    cursor = forms.CharField(max_length=19, strip=False, validators=[_digits])
    limit = forms.CharField(max_length=4, required=False, strip=False, validators=[_digits])
    snapshot = forms.CharField(
        max_length=60,
        required=False,
        strip=False,
        validators=[RegexValidator(r"\A[0-9]{1,18}\.[0-9]{1,18}\.[0-9]{1,18}\Z")],
    )


def parse_query(request: HttpRequest) -> tuple[int, int, changes.SnapshotPosition | None]:
    if len(request.META.get("QUERY_STRING", "")) > 200:
        raise StationChangesQueryInvalid(problem="the query is too long")
    form = ChangesQuery(request.GET)
    if not form.is_valid():
        field = next(iter(form.errors))
        raise StationChangesQueryInvalid(problem=f"{field} is not valid")
    cursor = int(form.cleaned_data["cursor"])
    limit = int(form.cleaned_data["limit"] or changes.DEFAULT_LIMIT)
    if cursor > MAX_CURSOR:
        raise StationChangesQueryInvalid(problem="cursor is not valid")
    if not 1 <= limit <= changes.MAX_LIMIT:
        raise StationChangesQueryInvalid(problem="limit is not valid")
    text: str = form.cleaned_data["snapshot"]
    position = changes.SnapshotPosition.parse(text) if text else None
    if position is not None and cursor != 0:
        raise StationChangesQueryInvalid(problem="a snapshot is read at cursor 0")
    return cursor, limit, position


@require_GET
def changes_view(request: HttpRequest) -> HttpResponse:
    try:
        body = auth.read_body(request, 0)
        station = auth.authenticate(request, body)
        cursor, limit, position = parse_query(request)
        if cursor == 0:
            page = changes.snapshot_page(station, position, limit)
        else:
            page = changes.changes_page(station, cursor, limit)
    except DomainError as error:
        return auth.refusal(request, error)
    data = page.as_dict()
    data["server_time"] = protocol.utc_text(timezone.now())
    return auth.answer(request, data)
