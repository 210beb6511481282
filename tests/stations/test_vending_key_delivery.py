"""``POST /station-api/v1/vending-keys``: a selling station gets the vending keys of a supply
group added to its unit after it enrolled, sealed for it alone; and every refusal (unsigned,
another key, a relay, hostile bodies, the wrong method)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from Crypto.Cipher import AES
from django.test import Client
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.keys import services as keys
from gridvend.meters import services as meters
from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, MasterClient
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalStation, Station, StationRole, StationStatus
from gridvend.stations.services import enrolment, signing, station_init, vending_keys
from tests.stations.conftest import Scene
from tests.stations.station_world import signed_headers
from tests.world import meter_number

pytestmark = pytest.mark.django_db

URL = "/station-api/v1/vending-keys"


def _enrolled(scene: Scene, role: str = StationRole.STATION) -> tuple[Station, protocol.KeyPair]:
    pair = protocol.new_key_pair()
    station = Station.objects.create(
        code="kitale-st1" if role == StationRole.STATION else "north-relay",
        name="Kitale",
        role=role,
        org_unit=scene.world.tree.north_sc
        if role == StationRole.STATION
        else scene.world.tree.north_bu,
        vending_point=scene.point if role == StationRole.STATION else None,
        tid_lane=1 if role == StationRole.STATION else None,
        status=StationStatus.ACTIVE,
        public_key=pair.public_hex,
        enrolled_at=timezone.now(),
    )
    return station, pair


def _new_supply_group(scene: Scene, key_ref: str = "vk-new-sgc") -> str:
    """A vending key and a meter of a new supply group in the station's unit, after it enrolled."""
    secret = secrets.token_hex(8)
    keys.store_vending_key(actor=None, key_ref=key_ref, key_hex=secret, dkga="02")
    meters.register_meter(
        actor=scene.world.admin,
        number=meter_number(970_001),
        org_unit=scene.world.tree.north_sc,
        sgc="700123",
        ti=1,
        krn=1,
        key_ref=key_ref,
    )
    return secret


def _post(pair: protocol.KeyPair, code: str, body: bytes) -> Any:
    headers = signed_headers(pair.seed, code, URL, body)
    return Client().post(URL, body, content_type="application/json", headers=headers)


def _vouched_for_by_the_master(answer: dict[str, Any], body: bytes, station: str) -> None:
    """Raises unless ``answer`` carries the master's statement of exactly this delivery."""
    protocol.read_vending_keys_statement(
        answer["statement"],
        master_public_hex=signing.signing_key().public_hex,
        station=station,
        station_exchange_key=json.loads(body)["exchange_key"],
        master_exchange_key=answer["exchange_key"],
        vending_keys=answer["vending_keys"],
    )


def _ask(held: list[str]) -> tuple[Any, bytes]:
    own = enrolment.new_exchange_key()
    body = protocol.canonical(
        {"exchange_key": enrolment.exchange_public_hex(own), "held": held}
    ).encode()
    return own, body


def test_a_station_gets_the_key_of_a_supply_group_added_after_it_enrolled(scene: Scene) -> None:
    station, pair = _enrolled(scene)
    scene.world.add_meter(unit=scene.world.tree.north_sc)
    secret = _new_supply_group(scene)
    own, body = _ask([scene.world.key_ref])
    response = _post(pair, station.code, body)
    assert response.status_code == 200, response.content
    answer = json.loads(response.content)
    # Only what it lacks: the key it holds is not sent again.
    assert [w["key_ref"] for w in answer["vending_keys"]] == ["vk-new-sgc"]
    assert secret not in response.content.decode()
    # Sealed for the station: its private half opens it, the public halves on the wire do not.
    shared = enrolment.shared_secret(own, answer["exchange_key"])
    key = vending_keys.delivery_key(shared=shared, station_code=station.code)
    [(item, opened)] = station_init._unwrap(
        answer["vending_keys"], key=key, station_code=station.code
    )
    assert opened.hex() == secret and item["dkga"] == "02"
    # The master's own word for this delivery, which a relay passes down unchanged.
    _vouched_for_by_the_master(answer, body, station.code)
    [wrapped] = answer["vending_keys"]
    on_the_wire = json.loads(body)["exchange_key"] + answer["exchange_key"]
    for guess in (bytes.fromhex(on_the_wire), bytes(32)):
        cipher = AES.new(
            vending_keys.delivery_key(shared=guess, station_code=station.code),
            AES.MODE_GCM,
            nonce=bytes.fromhex(wrapped["nonce"]),
        )
        cipher.update(enrolment.vending_key_aad(station.code, wrapped["key_ref"]))
        with pytest.raises(ValueError):
            cipher.decrypt_and_verify(
                bytes.fromhex(wrapped["ciphertext"]), bytes.fromhex(wrapped["tag"])
            )
    sent = AuditEvent.objects.get(event_type=StationEvent.VENDING_KEYS_SENT)
    assert isinstance(sent.after, dict) and sent.after["key_refs"] == ["vk-new-sgc"]
    # Holding everything: nothing sent, nothing audited.
    _own, body = _ask([scene.world.key_ref, "vk-new-sgc"])
    again = _post(pair, station.code, body)
    assert again.status_code == 200 and json.loads(again.content)["vending_keys"] == []
    assert AuditEvent.objects.filter(event_type=StationEvent.VENDING_KEYS_SENT).count() == 1


def test_keys_of_meters_outside_the_stations_unit_are_not_sent(scene: Scene) -> None:
    station, pair = _enrolled(scene)
    keys.store_vending_key(actor=None, key_ref="vk-south", key_hex=secrets.token_hex(8), dkga="02")
    meters.register_meter(
        actor=scene.world.admin,
        number=meter_number(970_002),
        org_unit=scene.world.tree.south_bu,
        sgc="700124",
        ti=1,
        krn=1,
        key_ref="vk-south",
    )
    _own, body = _ask([])
    answer = json.loads(_post(pair, station.code, body).content)
    assert "vk-south" not in [w["key_ref"] for w in answer["vending_keys"]]


def test_a_relay_is_sent_no_vending_key(scene: Scene) -> None:
    relay, pair = _enrolled(scene, StationRole.RELAY)
    _new_supply_group(scene)
    _own, body = _ask([])
    response = _post(pair, relay.code, body)
    assert response.status_code == 409
    assert json.loads(response.content)["error"]["code"] == "STATION_INVALID"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"held": []}',
        b'{"exchange_key": "00", "held": []}',
        ('{"exchange_key": "' + "0" * 64 + '", "held": []}').encode(),
        ('{"exchange_key": "' + "1" * 64 + '", "held": "vk"}').encode(),
        ('{"exchange_key": "' + "1" * 64 + '", "held": [1]}').encode(),
        ('{"exchange_key": "' + "1" * 64 + '", "held": ["a b"]}').encode(),
        ('{"exchange_key": "' + "1" * 64 + '", "held": [], "more": 1}').encode(),
        ('{"exchange_key": "' + "1" * 64 + '", "held": ' + json.dumps(["k"] * 1001) + "}").encode(),
        b"\xff\xfe{}",
    ],
)
def test_hostile_bodies_are_refused_and_send_nothing(scene: Scene, body: bytes) -> None:
    station, pair = _enrolled(scene)
    _new_supply_group(scene)
    response = _post(pair, station.code, body)
    assert 400 <= response.status_code < 500
    assert json.loads(response.content)["error"]["code"].startswith("STATION_")
    assert not AuditEvent.objects.filter(event_type=StationEvent.VENDING_KEYS_SENT).exists()


def test_unsigned_another_keys_and_the_wrong_method_are_refused(scene: Scene) -> None:
    station, _pair = _enrolled(scene)
    _new_supply_group(scene)
    _own, body = _ask([])
    assert Client().post(URL, body, content_type="application/json").status_code == 403
    assert _post(protocol.new_key_pair(), station.code, body).status_code == 403
    assert Client().get(URL).status_code == 405
    Station.objects.filter(pk=station.pk).update(status=StationStatus.SUSPENDED)
    assert _post(_pair, station.code, body).status_code == 403
    assert not AuditEvent.objects.filter(event_type=StationEvent.VENDING_KEYS_SENT).exists()


def test_a_station_that_lacks_no_key_does_not_ask(scene: Scene) -> None:
    """On the station: nothing is asked while every meter's key is held (the client below
    reaches nothing: a request would be a LinkDown)."""
    scene.world.add_meter(unit=scene.world.tree.north_sc)
    pair = protocol.new_key_pair()
    LocalStation.objects.create(
        pk=1,
        code="kitale-st1",
        master_url="http://127.0.0.1:9/",
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=pair.public_hex,
        master_public_key=pair.public_hex,
        upstream_public_key=pair.public_hex,
        org_unit_id_on_master=scene.world.tree.north_sc.pk,
    )
    client = MasterClient(
        base_url="http://127.0.0.1:9/",
        station="kitale-st1",
        seed=pair.seed,
        master_public_hex=pair.public_hex,
        timeout=1,
    )
    assert vending_keys.missing_key_refs() == []
    assert vending_keys.fetch_missing_vending_keys(client) == []


def test_a_relay_passes_the_stations_request_up_and_cannot_forge_the_answer(
    scene: Scene, live_server: Any
) -> None:
    """``pass_up``, as a relay runs it: the station's signed request goes to the upstream
    unchanged (the master checks the station's own signature) and the answer comes back only
    if signed by the key the relay trusts upstream."""
    station, pair = _enrolled(scene)
    secret = _new_supply_group(scene)
    own, body = _ask([scene.world.key_ref])
    headers = signed_headers(pair.seed, station.code, URL, body)
    upstream = LocalStation.objects.create(
        pk=1,
        code="north-relay",
        master_url=live_server.url,
        nonce=b"n",
        ciphertext=b"c",
        tag=b"t",
        public_key=pair.public_hex,
        master_public_key=signing.signing_key().public_hex,
        upstream_public_key=signing.signing_key().public_hex,
        org_unit_id_on_master=scene.world.tree.north_bu.pk,
    )
    status, answer = vending_keys.pass_up(headers, body)
    assert status == 200 and [w["key_ref"] for w in answer["vending_keys"]] == ["vk-new-sgc"]
    shared = enrolment.shared_secret(own, answer["exchange_key"])
    [(_item, opened)] = station_init._unwrap(
        answer["vending_keys"],
        key=vending_keys.delivery_key(shared=shared, station_code=station.code),
        station_code=station.code,
    )
    assert opened.hex() == secret
    # The master's statement comes through as it signed it (the station checks it).
    _vouched_for_by_the_master(answer, body, station.code)
    # An upstream whose answers are not signed by the key the relay trusts is a link down.
    LocalStation.objects.filter(pk=upstream.pk).update(
        upstream_public_key=protocol.new_key_pair().public_hex
    )
    with pytest.raises(LinkDown):
        vending_keys.pass_up(headers, body)
