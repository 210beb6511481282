"""Enrolment: `init_station` against the master's real HTTP server (pytest-django's
live_server, the station writing its own tables into the same test database: LocalStation and
LocalAllowance are the station's only, the vending key is the one the master keeps), then the
station's signed ``GET status``; and every refusal: wrong, used, expired and locked codes, a
revoked station, hostile bodies, an answer that does not prove the code."""

from __future__ import annotations

import hmac
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from Crypto.Cipher import AES
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.keys.crypto import check_value
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import forget_cached_keys, load_vending_key
from gridvend.stations import local, protocol
from gridvend.stations.errors import (
    StationEnrolFailed,
    StationEnrolLocked,
    StationEnrolRefused,
    StationRelayNotEnrolled,
    StationStateInvalid,
)
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalAllowance, LocalStation, Station, StationStatus
from gridvend.stations.services import enrolment, signing, station_init
from gridvend.stations.services.allowances import issue_allowance
from gridvend.stations.services.registration import (
    register_station,
    reissue_enrolment_code,
    revoke_station,
    suspend_station,
)
from tests.stations.conftest import Scene

# The station's half of the enrolment's key agreement (the master's side never reuses one).
EXCHANGE = enrolment.exchange_public_hex(enrolment.new_exchange_key())

pytestmark = pytest.mark.django_db

URL = "/station-api/v1/enrol"


def _registered(scene: Scene) -> tuple[Station, str]:
    scene.world.add_meter(unit=scene.world.tree.north_sc)
    return register_station(
        actor=scene.manager,
        code="kitale-st1",
        name="Kitale station",
        org_unit=scene.world.tree.north_sc,
        vending_point=scene.point,
    )


def _init(server: Any, code: str, station: str = "kitale-st1") -> LocalStation:
    return station_init.init_station(
        master_url=server.url, station_code=station, enrol_code=code, app_version="17.0"
    )


def test_a_station_enrols_over_http_and_then_reads_its_status_signed(
    scene: Scene, live_server: Any
) -> None:
    station, code = _registered(scene)
    issue_allowance(
        actor=scene.manager,
        station=station,
        ceiling=500_000,
        valid_until=timezone.now() + timedelta(days=7),
    )
    mine = _init(live_server, code)
    assert mine.pk == 1 and mine.code == "kitale-st1" and mine.tid_lane == 1
    assert mine.master_public_key == signing.signing_key().public_hex
    assert mine.upstream_public_key == mine.master_public_key
    assert mine.org_unit_id_on_master == scene.world.tree.north_sc.pk
    assert mine.vending_point_id_on_master == scene.point.pk
    # The station's key is sealed at rest and opens to the public half the master now holds.
    assert bytes(mine.ciphertext) and local.station_key(mine).public_hex == mine.public_key
    on_master = Station.objects.get(pk=station.pk)
    assert on_master.status == StationStatus.ACTIVE and on_master.public_key == mine.public_key
    assert on_master.enrol_code_hash == "" and on_master.app_version == "17.0"
    assert LocalAllowance.objects.get().ceiling_minor == 500_000
    assert AuditEvent.objects.filter(event_type=StationEvent.ENROLLED).count() == 1
    assert AuditEvent.objects.filter(event_type=StationEvent.INITIALISED).count() == 1

    # The signed link works at once: status, with what the station has not uploaded yet.
    since = timezone.now() - timedelta(hours=2)
    answer = local.client().get("status", {"unsynced_since": protocol.utc_text(since)})
    assert answer["status"] == "active" and answer["last_seq"] == 0
    assert answer["allowance"]["payload"] == LocalAllowance.objects.get().payload
    seen = Station.objects.get(pk=station.pk)
    assert seen.unsynced_since == since and seen.last_contact_at is not None
    # Suspended, then revoked: the station is still answered, and so learns it must stop.
    suspend_station(actor=scene.manager, station=station, reason="audit visit")
    answer = local.client().get("status")
    assert (answer["status"], answer["reason"]) == ("suspended", "audit visit")
    assert Station.objects.get(pk=station.pk).unsynced_since is None
    revoke_station(actor=scene.manager, station=station, reason="stolen")
    assert local.client().get("status")["status"] == "revoked"

    # The code was used: a second install cannot enrol with it.
    LocalAllowance.objects.all().delete()
    LocalStation.objects.all().delete()
    with pytest.raises(StationEnrolFailed) as refused:
        _init(live_server, code)
    assert "STATION_ENROL_REFUSED" in str(refused.value.message)


def test_an_install_that_is_already_a_station_refuses_init(scene: Scene, live_server: Any) -> None:
    _station, code = _registered(scene)
    _init(live_server, code)
    with pytest.raises(StationEnrolFailed) as refused:
        _init(live_server, code)
    assert "already is a station" in str(refused.value.message)


def test_wrong_codes_are_counted_and_lock_the_enrolment_until_a_new_code(
    scene: Scene, live_server: Any
) -> None:
    station, code = _registered(scene)
    for _n in range(enrolment.ENROL_ATTEMPTS - 1):
        with pytest.raises(StationEnrolFailed) as refused:
            _init(live_server, "A" * 26)
        assert "STATION_ENROL_REFUSED" in str(refused.value.message)
    with pytest.raises(StationEnrolFailed) as refused:
        _init(live_server, "B" * 26)
    assert "STATION_ENROL_LOCKED" in str(refused.value.message)
    # Locked: even the right code is refused now.
    with pytest.raises(StationEnrolFailed) as refused:
        _init(live_server, code)
    assert "STATION_ENROL_LOCKED" in str(refused.value.message)
    assert Station.objects.get(pk=station.pk).status == StationStatus.PENDING
    assert not LocalStation.objects.exists()
    refusals = AuditEvent.objects.filter(event_type=StationEvent.ENROL_REFUSED)
    # Each counted wrong code is audited; the refusals of the locked enrolment only logged (so
    # that calls without the code cannot grow the audit log).
    assert refusals.count() == enrolment.ENROL_ATTEMPTS
    # A new code unlocks it.
    _station, fresh = reissue_enrolment_code(actor=scene.manager, station=station)
    assert _init(live_server, fresh).code == "kitale-st1"


def test_an_expired_code_an_unknown_station_and_a_revoked_one_are_refused(scene: Scene) -> None:
    station, code = _registered(scene)
    key = protocol.new_key_pair().public_hex
    Station.objects.filter(pk=station.pk).update(
        enrol_code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(StationEnrolRefused):
        enrolment.enrol_station(
            code="kitale-st1",
            enrol_code=code,
            public_key=key,
            app_version="",
            exchange_key=EXCHANGE,
        )
    with pytest.raises(StationEnrolRefused):
        enrolment.enrol_station(
            code="nobody-st", enrol_code=code, public_key=key, app_version="", exchange_key=EXCHANGE
        )
    _station, fresh = reissue_enrolment_code(actor=scene.manager, station=station)
    revoke_station(actor=scene.manager, station=station, reason="closed")
    with pytest.raises(StationEnrolRefused):
        enrolment.enrol_station(
            code="kitale-st1",
            enrol_code=fresh,
            public_key=key,
            app_version="",
            exchange_key=EXCHANGE,
        )
    assert Station.objects.get(pk=station.pk).public_key == ""


def _post(body: bytes | str, nonce: str = "") -> Any:
    raw = body.encode() if isinstance(body, str) else body
    headers = {protocol.HEADER_NONCE: nonce} if nonce else {}
    return Client().post(URL, raw, content_type="application/json", headers=headers)


def _refusal_code(response: Any) -> str:
    return str(json.loads(response.content)["error"]["code"])


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '{"station": "kitale-st1"}',
        '{"station": 1, "code": 2, "public_key": 3, "app_version": 4}',
        '{"station": "kitale-st1", "code": "X", "public_key": "zz", "app_version": "1"}',
        '{"station": "' + "s" * 5000 + '"}',
        b"\xff\xfe{}",
    ],
)
def test_hostile_enrol_bodies_are_refused_signed_and_change_nothing(
    scene: Scene, body: str | bytes
) -> None:
    station, _code = _registered(scene)
    response = _post(body)
    assert response.status_code in (403, 409)
    assert _refusal_code(response).startswith("STATION_")
    assert response[protocol.HEADER_MASTER_SIGNATURE]
    assert Station.objects.get(pk=station.pk).status == StationStatus.PENDING
    assert Client().get(URL).status_code == 405


def test_the_answer_proves_the_code_and_carries_the_vending_keys_wrapped_for_the_station(
    scene: Scene,
) -> None:
    station, code = _registered(scene)
    pair = protocol.new_key_pair()
    exchange = enrolment.new_exchange_key()
    body = protocol.canonical(
        {
            "station": "kitale-st1",
            "code": code,
            "public_key": pair.public_hex,
            "app_version": "x",
            "exchange_key": enrolment.exchange_public_hex(exchange),
        }
    )
    response = _post(body)
    assert response.status_code == 200, response.content
    assert hmac.compare_digest(
        response[enrolment.HEADER_PROOF],
        enrolment.answer_proof(enrol_code=code, station_code="kitale-st1", body=response.content),
    )
    assert response[enrolment.HEADER_PROOF] != enrolment.answer_proof(
        enrol_code="A" * 26, station_code="kitale-st1", body=response.content
    )
    answer = json.loads(response.content)
    assert answer["station"]["tid_lane"] == 1 and answer["allowance"] is None
    [wrapped] = answer["vending_keys"]
    assert wrapped["key_ref"] == scene.world.key_ref
    # The key travels encrypted: it opens only with the key agreed with the master (X25519,
    # the station's private half) and the code.
    shared = enrolment.shared_secret(exchange, answer["exchange_key"])
    key = enrolment.wrap_key(shared=shared, enrol_code=code, station_code="kitale-st1")
    cipher = AES.new(key, AES.MODE_GCM, nonce=bytes.fromhex(wrapped["nonce"]))
    cipher.update(enrolment.vending_key_aad("kitale-st1", wrapped["key_ref"]))
    secret = cipher.decrypt_and_verify(
        bytes.fromhex(wrapped["ciphertext"]), bytes.fromhex(wrapped["tag"])
    )
    assert secret.hex() == scene.world.vending_key_hex
    assert scene.world.vending_key_hex not in response.content.decode()
    wrong_code = enrolment.wrap_key(shared=shared, enrol_code="A" * 26, station_code="kitale-st1")
    other = enrolment.shared_secret(enrolment.new_exchange_key(), answer["exchange_key"])
    wrong_secret = enrolment.wrap_key(shared=other, enrol_code=code, station_code="kitale-st1")
    for wrong in (wrong_code, wrong_secret):
        with pytest.raises(StationEnrolFailed):
            station_init._unwrap([wrapped], key=wrong, station_code="kitale-st1")
    # On a fresh install the key is sealed under its own master key by the keys app.
    VendingKeyRecord.objects.filter(key_ref=wrapped["key_ref"]).delete()
    forget_cached_keys()
    [(item, opened)] = station_init._unwrap([wrapped], key=key, station_code="kitale-st1")
    station_init._keep_vending_key(item, opened)
    kept = VendingKeyRecord.objects.get(key_ref=wrapped["key_ref"])
    assert kept.check_value == check_value(secret)
    assert load_vending_key(wrapped["key_ref"])[1] == "real"
    assert Station.objects.get(pk=station.pk).status == StationStatus.ACTIVE


@pytest.mark.parametrize("exchange_key", ["0" * 64, "zz" * 32, None, 7])
def test_an_exchange_key_that_agrees_on_nothing_is_refused_and_leaves_the_code_good(
    scene: Scene, exchange_key: object
) -> None:
    station, code = _registered(scene)
    fields = {"station": "kitale-st1", "code": code, "public_key": "1" * 64, "app_version": "x"}
    response = _post(protocol.canonical({**fields, "exchange_key": exchange_key}))
    assert response.status_code == 403
    assert _refusal_code(response) == "STATION_ENROL_REFUSED"
    kept = Station.objects.get(pk=station.pk)
    assert kept.status == StationStatus.PENDING and kept.enrol_failures == 0
    good = enrolment.exchange_public_hex(enrolment.new_exchange_key())
    assert _post(protocol.canonical({**fields, "exchange_key": good})).status_code == 200


def test_an_answer_without_the_codes_proof_is_not_trusted(scene: Scene) -> None:
    _station, code = _registered(scene)
    pair = protocol.new_key_pair()
    nonce = protocol.new_nonce()
    body = protocol.canonical(
        {
            "station": "kitale-st1",
            "code": code,
            "public_key": pair.public_hex,
            "app_version": "x",
            "exchange_key": EXCHANGE,
        }
    )
    response = _post(body, nonce)
    headers = {k: v for k, v in response.items()}
    read = station_init._read_answer(
        200, response.content, headers, nonce=nonce, station_code="kitale-st1", code=code
    )
    assert read["station"]["code"] == "kitale-st1"
    forged = dict(headers, **{enrolment.HEADER_PROOF: "0" * 64})
    with pytest.raises(StationEnrolFailed):
        station_init._read_answer(
            200, response.content, forged, nonce=nonce, station_code="kitale-st1", code=code
        )
    altered = response.content.replace(b'"tid_lane":1', b'"tid_lane":2')
    with pytest.raises(StationEnrolFailed):
        station_init._read_answer(
            200, altered, headers, nonce=nonce, station_code="kitale-st1", code=code
        )
    with pytest.raises(StationEnrolFailed):
        station_init._read_answer(
            200, response.content, headers, nonce=nonce, station_code="other-st", code=code
        )


def test_the_lock_is_raised_by_the_service_after_the_last_wrong_try(scene: Scene) -> None:
    station, _code = _registered(scene)
    key = protocol.new_key_pair().public_hex
    Station.objects.filter(pk=station.pk).update(enrol_failures=enrolment.ENROL_ATTEMPTS - 1)
    with pytest.raises(StationEnrolLocked):
        enrolment.enrol_station(
            code="kitale-st1",
            enrol_code="C" * 26,
            public_key=key,
            app_version="",
            exchange_key=EXCHANGE,
        )
    assert Station.objects.get(pk=station.pk).enrol_failures == enrolment.ENROL_ATTEMPTS


def test_the_command_enrols_and_says_so_and_a_refusal_is_a_command_error(
    scene: Scene, live_server: Any
) -> None:
    _station, code = _registered(scene)
    with pytest.raises(CommandError) as failed:
        call_command(
            "station",
            "init",
            "--master",
            "http://127.0.0.1:9",
            "--station",
            "kitale-st1",
            "--enrol-code",
            code,
        )
    assert "STATION_ENROL_FAILED" in str(failed.value)
    out = io.StringIO()
    call_command(
        "station",
        "init",
        "--master",
        live_server.url,
        "--station",
        "kitale-st1",
        "--enrol-code",
        code,
        stdout=out,
    )
    assert "now station kitale-st1" in out.getvalue() and "TID lane 1" in out.getvalue()
    assert LocalStation.objects.get().code == "kitale-st1"


# --- A station below a business-unit relay -------------------------------------------------


def _under_relay(scene: Scene) -> tuple[Station, str, Station, str]:
    relay, relay_code = register_station(
        actor=scene.manager,
        code="north-relay",
        name="North BU relay",
        org_unit=scene.world.tree.north_bu,
        role="relay",
    )
    station, code = register_station(
        actor=scene.manager,
        code="kitale-st1",
        name="Kitale station",
        org_unit=scene.world.tree.north_sc,
        vending_point=scene.point,
        parent=relay,
    )
    return relay, relay_code, station, code


def test_a_station_under_a_relay_waits_for_the_relay_and_keeps_its_code(scene: Scene) -> None:
    relay, relay_code, station, code = _under_relay(scene)
    station_key = protocol.new_key_pair()
    with pytest.raises(StationRelayNotEnrolled):
        enrolment.enrol_station(
            code=station.code,
            enrol_code=code,
            public_key=station_key.public_hex,
            app_version="t",
            exchange_key=EXCHANGE,
        )
    kept = Station.objects.get(pk=station.pk)
    assert kept.status == StationStatus.PENDING and kept.enrol_code_hash and not kept.public_key
    assert kept.enrol_failures == 0
    # The relay enrols; the station's same code now works, and its answer names the relay's key
    # as the one its upstream signs with, the master's as the one that signs allowances.
    relay_key = protocol.new_key_pair()
    enrolment.enrol_station(
        code=relay.code,
        enrol_code=relay_code,
        public_key=relay_key.public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    answer = enrolment.enrol_station(
        code=station.code,
        enrol_code=code,
        public_key=station_key.public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    assert answer["upstream_public_key"] == relay_key.public_hex
    assert answer["master_public_key"] == signing.signing_key().public_hex


def test_station_init_via_the_relay_talks_to_the_relay_and_via_must_match(
    scene: Scene, live_server: Any
) -> None:
    relay, relay_code, station, code = _under_relay(scene)
    relay_key = protocol.new_key_pair()
    enrolment.enrol_station(
        code=relay.code,
        enrol_code=relay_code,
        public_key=relay_key.public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    mine = station_init.init_station(
        master_url=live_server.url,
        via_url="https://bu-relay.example/",
        station_code="kitale-st1",
        enrol_code=code,
        app_version="17.0",
    )
    # Enrolled with the master (its answer checked against the master's key), bound to the relay.
    assert mine.master_url == "https://bu-relay.example/"
    assert mine.upstream_public_key == relay_key.public_hex
    assert mine.master_public_key == signing.signing_key().public_hex
    assert local.client().base_url == "https://bu-relay.example/"
    assert Station.objects.get(pk=station.pk).public_key == mine.public_key
    # The master's statement of the relay's key: whose it is and which enrolment (a newer one
    # moves the key on, docs/stations.md "Relay key statement").
    assert (mine.upstream_code, mine.upstream_key_sequence) == (relay.code, 1)
    assert local.client().upstream_keys is not None


def test_a_relay_keeps_the_masters_statement_of_its_key_from_its_enrolment(
    scene: Scene, live_server: Any
) -> None:
    relay, relay_code, _station, _code = _under_relay(scene)
    master_public = signing.signing_key().public_hex
    mine = station_init.init_station(
        master_url=live_server.url,
        station_code=relay.code,
        enrol_code=relay_code,
        app_version="17.0",
    )
    stated = protocol.read_relay_key(
        json.loads(mine.key_statement), master_public_hex=master_public
    )
    assert (stated.relay, stated.public_key, stated.sequence) == (relay.code, mine.public_key, 1)
    assert Station.objects.get(pk=relay.pk).key_sequence == 1


@pytest.mark.parametrize("under_relay", [True, False], ids=["no-via", "via-without-relay"])
def test_station_init_refuses_a_via_that_does_not_match_the_registration(
    scene: Scene, live_server: Any, under_relay: bool
) -> None:
    if under_relay:
        relay, relay_code, _station, code = _under_relay(scene)
        enrolment.enrol_station(
            code=relay.code,
            enrol_code=relay_code,
            public_key=protocol.new_key_pair().public_hex,
            app_version="t",
            exchange_key=EXCHANGE,
        )
        via = ""
    else:
        _station, code = _registered(scene)
        via = "https://bu-relay.example/"
    with pytest.raises(StationEnrolFailed) as refused:
        station_init.init_station(
            master_url=live_server.url,
            via_url=via,
            station_code="kitale-st1",
            enrol_code=code,
            app_version="17.0",
        )
    assert "STATION_ENROL_RELAY_MISMATCH" in str(refused.value.message)
    assert not LocalStation.objects.exists() and not LocalAllowance.objects.exists()
    # Refused before the code was used: the same code enrols with the right --via.
    kept = Station.objects.get(code="kitale-st1")
    assert kept.status == StationStatus.PENDING and kept.enrol_code_hash
    assert kept.enrol_failures == 0
    mine = station_init.init_station(
        master_url=live_server.url,
        via_url="https://bu-relay.example/" if under_relay else "",
        station_code="kitale-st1",
        enrol_code=code,
        app_version="17.0",
    )
    assert mine.code == "kitale-st1"


def _status_with(pair: protocol.KeyPair, code: str) -> Any:
    path = "/station-api/v1/status"
    stamp = protocol.utc_text(timezone.now())
    nonce = protocol.new_nonce()
    signature = protocol.sign(pair.seed, protocol.request_message("GET", path, stamp, nonce, b""))
    headers = {
        protocol.HEADER_STATION: code,
        protocol.HEADER_TIME: stamp,
        protocol.HEADER_NONCE: nonce,
        protocol.HEADER_SIGNATURE: signature,
    }
    return Client().get(path, headers=headers)


def test_a_relay_whose_disk_was_lost_is_enrolled_again_and_its_old_key_retired(
    scene: Scene,
) -> None:
    relay, relay_code, station, code = _under_relay(scene)
    old = protocol.new_key_pair()
    enrolment.enrol_station(
        code=relay.code,
        enrol_code=relay_code,
        public_key=old.public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    assert _status_with(old, relay.code).status_code == 200
    # A selling station heard from since its enrolment holds a journal: it is never enrolled
    # again under its registration (one never heard from may be: test_registration).
    enrolment.enrol_station(
        code=station.code,
        enrol_code=code,
        public_key=protocol.new_key_pair().public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    Station.objects.filter(pk=station.pk).update(
        last_contact_at=timezone.now() + timedelta(seconds=1)
    )
    with pytest.raises(StationStateInvalid):
        reissue_enrolment_code(actor=scene.manager, station=station)
    _relay, fresh = reissue_enrolment_code(actor=scene.manager, station=relay)
    waiting = Station.objects.get(pk=relay.pk)
    assert waiting.status == StationStatus.PENDING and waiting.public_key == ""
    # The old key (on the lost disk, perhaps in other hands) is refused at once.
    assert _status_with(old, relay.code).status_code == 403
    issued = AuditEvent.objects.filter(
        event_type=StationEvent.CODE_ISSUED, target_id=str(relay.pk)
    ).get()
    assert issued.after is not None and issued.after["re_enrolment"] is True
    assert issued.after["public_key"] == ""
    new = protocol.new_key_pair()
    answer = enrolment.enrol_station(
        code=relay.code,
        enrol_code=fresh,
        public_key=new.public_hex,
        app_version="t",
        exchange_key=EXCHANGE,
    )
    assert answer["vending_keys"] == [] and answer["station"]["role"] == "relay"
    assert Station.objects.get(pk=relay.pk).public_key == new.public_hex
    assert _status_with(new, relay.code).status_code == 200
    assert _status_with(old, relay.code).status_code == 403
