"""``GET /station-api/v1/status``: signed by the station, answered (and signed) for active,
suspended and revoked stations alike; unsigned, forged, stale, unknown or hostile requests are
refused with a signed refusal and change nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from gridvend.stations import protocol
from gridvend.stations.models import Station
from gridvend.stations.services import enrolment, signing
from gridvend.stations.services.registration import register_station, revoke_station
from tests.stations.conftest import Scene

# The station's half of the enrolment's key agreement (the master's side never reuses one).
EXCHANGE = enrolment.exchange_public_hex(enrolment.new_exchange_key())

pytestmark = pytest.mark.django_db

PATH = "/station-api/v1/status"


def _enrolled(scene: Scene) -> tuple[Station, protocol.KeyPair]:
    station, code = register_station(
        actor=scene.manager,
        code="kitale-st1",
        name="Kitale station",
        org_unit=scene.world.tree.north_sc,
        vending_point=scene.point,
    )
    pair = protocol.new_key_pair()
    enrolment.enrol_station(
        code=station.code,
        enrol_code=code,
        public_key=pair.public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    return Station.objects.get(pk=station.pk), pair


def _get(
    pair: protocol.KeyPair,
    query: str = "",
    *,
    code: str = "kitale-st1",
    when: Any = None,
    path: str = PATH,
) -> Any:
    stamp = protocol.utc_text(when or timezone.now())
    nonce = protocol.new_nonce()
    signed = protocol.request_message("GET", path + query, stamp, nonce, b"")
    signature = protocol.sign(pair.seed, signed)
    headers = {
        protocol.HEADER_STATION: code,
        protocol.HEADER_TIME: stamp,
        protocol.HEADER_NONCE: nonce,
        protocol.HEADER_SIGNATURE: signature,
    }
    response = Client().get(PATH + query, headers=headers)
    # Every answer, refusals too, is signed over the request's nonce.
    protocol.verify(
        signing.signing_key().public_hex,
        protocol.answer_message(nonce, response.content),
        response[protocol.HEADER_MASTER_SIGNATURE],
    )
    return response


def test_status_answers_and_records_the_contact(scene: Scene) -> None:
    station, pair = _enrolled(scene)
    since = timezone.now() - timedelta(minutes=30)
    response = _get(pair, "?unsynced_since=" + protocol.utc_text(since))
    assert response.status_code == 200
    answer = json.loads(response.content)
    assert answer["status"] == "active" and answer["allowance"] is None
    assert set(answer) == {"status", "reason", "allowance", "last_seq", "last_hash", "server_time"}
    assert Station.objects.get(pk=station.pk).unsynced_since == since
    revoke_station(actor=scene.manager, station=station, reason="stolen")
    answer = json.loads(_get(pair).content)
    assert (answer["status"], answer["reason"]) == ("revoked", "stolen")


@pytest.mark.parametrize(
    "query",
    [
        "?unsynced_since=yesterday",
        "?unsynced_since=2999-01-01T00:00:00.000000Z",
        "?unsynced_since=" + "9" * 500,
    ],
)
def test_a_hostile_unsynced_since_is_refused_and_changes_nothing(scene: Scene, query: str) -> None:
    station, pair = _enrolled(scene)
    before = Station.objects.get(pk=station.pk).last_contact_at
    response = _get(pair, query)
    assert response.status_code == 409
    assert json.loads(response.content)["error"]["code"] == "STATION_INVALID"
    assert Station.objects.get(pk=station.pk).last_contact_at == before


def test_forged_stale_unknown_and_unsigned_requests_are_refused(scene: Scene) -> None:
    station, pair = _enrolled(scene)
    before = Station.objects.get(pk=station.pk).last_contact_at
    other = protocol.new_key_pair()
    assert _get(other).status_code == 403
    assert _get(pair, when=timezone.now() - timedelta(hours=1)).status_code == 403
    assert _get(pair, code="nobody-st").status_code == 403
    # Signed for another path: the signature does not cover this one.
    assert _get(pair, path="/station-api/v1/changes").status_code == 403
    plain = Client().get(PATH)
    assert plain.status_code == 403
    assert json.loads(plain.content)["error"]["code"] == "STATION_AUTH_FAILED"
    assert Client().post(PATH).status_code == 405
    assert Station.objects.get(pk=station.pk).last_contact_at == before
