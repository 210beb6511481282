"""A station under a relay under another relay (station -> BU relay -> region relay -> master),
in one process: the region relay keeps the batch the BU relay forwards for the station, hands
it up unchanged, and the master applies it once (and answers alike when the same batch comes
again, from either relay). One test database plays the region relay's install, then the
master's (the relay's rows are removed in between: both keep a batch under the same id), so the
real views and services of each hop run; the multi-process chain is test_three_levels.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridvend.stations import protocol
from gridvend.stations.models import (
    BatchStatus,
    LocalStation,
    Station,
    StationBatch,
    StationEntry,
    StationRole,
    StationStatus,
)
from gridvend.stations.services import offline, relay, signing
from gridvend.vending.models import Sale
from tests.stations import scenes
from tests.stations.offline import offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db

REGION = protocol.new_key_pair()
BU = protocol.new_key_pair()


def _post(data: object, *, code: str, seed: bytes) -> tuple[int, dict[str, Any]]:
    path = reverse("station_api:batches-forward")
    body = protocol.canonical(data).encode("utf-8")
    stamp, nonce = protocol.utc_text(timezone.now()), protocol.new_nonce()
    headers = {
        protocol.HEADER_STATION: code,
        protocol.HEADER_TIME: stamp,
        protocol.HEADER_NONCE: nonce,
        protocol.HEADER_SIGNATURE: protocol.sign(
            seed, protocol.request_message("POST", path, stamp, nonce, body)
        ),
    }
    response = Client().post(path, data=body, content_type="application/json", headers=headers)
    # Signed by whoever answers: the region relay's own key on the relay, the master's on it.
    protocol.verify(
        signing.signing_key().public_hex,
        protocol.answer_message(nonce, response.content),
        response[protocol.HEADER_MASTER_SIGNATURE],
    )
    return response.status_code, json.loads(response.content)


class _NextHop:
    """What the region relay's ``forward_pending`` sends up, kept; acknowledged as a relay
    above it would (the master's own answer is the second half of the test)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == "batches/forward"
        self.sent.append(json.loads(protocol.canonical(body)))
        return {"status": "stored", "batch_id": body["batch_id"]}


def test_a_batch_goes_up_through_two_relays_and_is_applied_once() -> None:
    signing.forget()
    world = build_world()
    st = offline_station(world)
    now = timezone.now()
    region = Station.objects.create(
        code="region-relay",
        name="Region relay",
        role=StationRole.RELAY,
        org_unit=world.unit,
        status=StationStatus.ACTIVE,
        public_key=REGION.public_hex,
        enrolled_at=now,
    )
    bu = Station.objects.create(
        code="bu-relay",
        name="BU relay",
        role=StationRole.RELAY,
        org_unit=world.unit,
        parent=region,
        status=StationStatus.ACTIVE,
        public_key=BU.public_hex,
        enrolled_at=now,
    )
    Station.objects.filter(pk=st.station.pk).update(parent=bu)
    meter = world.add_meter()
    entries = [st.sell(meter, "250"), st.sell(meter, "260")]
    data = {"station": st.code, "batch_id": f"{st.code}:1-2", "entries": entries}

    # Hop 1, the region relay's install: the BU relay forwards the station's batch; it is kept.
    scenes.identity(
        code="region-relay",
        role="relay",
        master_url="http://127.0.0.1:9/",
        seed_hex=REGION.seed.hex(),
        master_public=signing.signing_key().public_hex,
        upstream_public=signing.signing_key().public_hex,
        org_unit_id_on_master=world.unit.pk,
    )
    signing.forget()
    offline.forget()
    status, kept = _post(data, code="bu-relay", seed=BU.seed)
    assert status == 200 and kept["status"] == "stored", kept
    stored = StationBatch.objects.get(station=st.station)
    assert stored.status == BatchStatus.STORED and stored.via is not None
    assert stored.via.code == "bu-relay"
    # The region relay hands it up, the station's signed entries unchanged.
    hop = _NextHop()
    done = relay.forward_pending(hop)  # type: ignore[arg-type]
    assert (done.forwarded, done.entries, done.refused) == (1, 2, [])
    [up] = hop.sent
    assert up["station"] == st.code and up["batch_id"] == data["batch_id"]
    assert up["entries"] == json.loads(protocol.canonical(entries))
    assert Sale.objects.filter(vending_point=st.point).count() == 0  # a relay applies nothing

    # Hop 2, the master's install: what the region relay sent, applied once.
    StationEntry.objects.filter(station=st.station).delete()
    StationBatch.objects.filter(station=st.station).delete()
    LocalStation.objects.all().delete()
    signing.forget()
    offline.forget()
    status, first = _post(up, code="region-relay", seed=REGION.seed)
    assert status == 200 and first["status"] == "applied", first
    again = _post(up, code="region-relay", seed=REGION.seed)
    # The BU relay, its link to the region relay down, sends it to the master itself.
    direct = _post(up, code="bu-relay", seed=BU.seed)
    assert again == direct == (200, first)
    assert first["last_seq"] == 2
    applied = StationBatch.objects.get(station=st.station)
    assert applied.status == BatchStatus.APPLIED and applied.via is not None
    assert applied.via.code == "region-relay"
    assert Sale.objects.filter(vending_point=st.point).count() == 2
    assert StationEntry.objects.filter(station=st.station, sale__isnull=False).count() == 2
    assert Station.objects.get(pk=st.station.pk).last_seq == 2
