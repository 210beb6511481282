"""``POST /station-api/v1/batches`` from hostile callers: unsigned, signed by a key that is not
the station's, by GET, oversized, and with bodies out of shape; each refused with a signed
error, none with a 500, nothing applied."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from gridvend.stations import protocol
from gridvend.stations.models import StationBatch, StationEntry
from gridvend.vending.models import Sale
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db
PATH = "/station-api/v1/batches"


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


def _post(st: OfflineStation, body: bytes, *, seed: bytes | None = None, method: str = "POST"):
    stamp = protocol.utc_text(timezone.now())
    nonce = protocol.new_nonce()
    signature = protocol.sign(
        seed or st.key.seed, protocol.request_message(method, PATH, stamp, nonce, body)
    )
    return Client().generic(
        method,
        PATH,
        body,
        content_type="application/json",
        headers={
            protocol.HEADER_STATION: st.code,
            protocol.HEADER_TIME: stamp,
            protocol.HEADER_NONCE: nonce,
            protocol.HEADER_SIGNATURE: signature,
        },
    )


def _nothing_applied(st: OfflineStation) -> None:
    assert not Sale.objects.filter(vending_point=st.point).exists()
    assert not StationEntry.objects.exists()


def test_unsigned_or_foreign_signed_or_get_requests_are_refused(st: OfflineStation) -> None:
    meter = st.world.add_meter()
    body = protocol.canonical(batch([st.sell(meter, "250")])).encode()
    unsigned = Client().post(PATH, body, content_type="application/json")
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]["code"] == "STATION_AUTH_FAILED"
    forged = _post(st, body, seed=protocol.new_key_pair().seed)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "STATION_AUTH_FAILED"
    assert _post(st, b"", method="GET").status_code == 405
    _nothing_applied(st)


@override_settings(STATION_MAX_BODY_BYTES=64 * 1024)
def test_an_oversized_body_is_refused_before_it_is_read(st: OfflineStation) -> None:
    response = _post(st, b'{"batch_id":"x","entries":["' + b"a" * 70_000 + b'"]}')
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "STATION_AUTH_FAILED"
    _nothing_applied(st)


HOSTILE = [
    b"not json",
    b"\xff\xfe",
    b"null",
    b"[1,2]",
    b'{"batch_id": 7, "entries": []}',
    b'{"batch_id": "' + b"x" * 65 + b'", "entries": [{}]}',
    b'{"batch_id": "a\\u202eb", "entries": [{}]}',
    b'{"batch_id": "x", "entries": {}}',
    b'{"batch_id": "x", "entries": [], "unsynced_since": "yesterday"}',
    b'{"batch_id": "x", "entries": [1], "station": "someone-else"}',
    b'{"batch_id": "x", "entries": [1e999]}',
    b'{"batch_id": "x", "entries": [{"body": 1, "hash": 2, "signature": 3}]}',
    b'{"batch_id": "y", "entries": [{"body": "{}", "hash": "00", "signature": "zz"}]}',
    json.dumps({"batch_id": "z", "entries": [[[[[]]]]] * 6000}).encode(),
]


def test_hostile_bodies_are_refused_with_a_code_and_never_a_500(st: OfflineStation) -> None:
    for body in HOSTILE:
        response = _post(st, body)
        assert 400 <= response.status_code < 500, body[:60]
        assert response.json()["error"]["code"].startswith("STATION_"), body[:60]
    _nothing_applied(st)
    # Refused bodies that named a batch id are kept as rejected batches, never applied ones.
    assert not StationBatch.objects.filter(status="applied").exists()


@pytest.mark.parametrize(
    "path", ["enrol", "status", "batches", "batches/forward", "changes", "vending-keys"]
)
def test_a_signed_body_nested_deeper_than_the_decoder_goes_is_refused_on_every_call(
    st: OfflineStation, path: str
) -> None:
    """Every station-API call, signed by an enrolled station, with a JSON body deeper than the
    decoder recurses: a refusal (STATION_AUTH_FAILED where the body is read; 405 for the GET
    calls), never a 500."""
    from tests.hostile import HOSTILE_DEEP_JSON
    from tests.stations.station_world import signed_headers

    url = f"/station-api/v1/{path}"
    headers = signed_headers(st.key.seed, st.station.code, url, HOSTILE_DEEP_JSON)
    response = Client(raise_request_exception=False).post(
        url, HOSTILE_DEEP_JSON, content_type="application/json", headers=headers
    )
    assert response.status_code < 500
    if response.status_code != 405:
        assert "code" in json.loads(response.content)["error"]
    _nothing_applied(st)


def test_every_station_api_url_is_tried_with_a_deeply_nested_body() -> None:
    """The list above names every URL of the station API (a new call joins it)."""
    from gridvend.gateways.stations import urls

    named = {str(entry.pattern) for entry in urls.urlpatterns}
    assert named == {"enrol", "status", "batches", "batches/forward", "changes", "vending-keys"}
