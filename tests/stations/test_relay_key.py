"""A relay enrolled again after its disk was lost (docs/stations.md, "The relay's disk was lost"
and "Relay key statement"): the master signs a statement of the relay's new key at each
enrolment; the relay hands it to its stations with every answer (``X-Relay-Key``); a station
takes the new key only on a statement signed by the master, for its own relay, with a newer
sequence, and then sends again the entries the lost relay had acknowledged but the new one does
not hold. The station talks to a relay double on a real loopback HTTP server (master_double.py),
the master's side runs its real services; all in one process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.gateways.stations import auth
from gridvend.stations import protocol
from gridvend.stations.client import LinkDown
from gridvend.stations.errors import StationEnrolFailed
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalEntry, LocalStation, Station, StationRole
from gridvend.stations.services import enrolment, signing, station_init, vending_keys
from gridvend.stations.services.journal import receive_batch
from gridvend.stations.services.registration import reissue_enrolment_code
from gridvend.stations.services.sync import run_sync_cycle
from gridvend.vending.models import Sale
from tests.stations import scenes
from tests.stations.master_double import KeyingDouble, MasterDouble, serving, stand_in_pull
from tests.stations.offline import batch, offline_station
from tests.stations.station_world import (
    CODE,
    StationSetUp,
    journal_shifts,
    make_station,
    signed_headers,
    station_mode_forgotten,
)
from tests.world import build_world

pytestmark = pytest.mark.django_db

RELAY = "bu-relay"
OLD = protocol.new_key_pair()  # the lost relay's key
NEW = protocol.new_key_pair()  # the key it enrolled again with


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


@pytest.fixture
def pulls(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in_pull(monkeypatch)


@pytest.fixture
def setup(db: None) -> StationSetUp:
    """A station under relay ``bu-relay``, trusting its first key (statement 1)."""
    made = make_station()
    LocalStation.objects.filter(pk=1).update(
        upstream_public_key=OLD.public_hex, upstream_code=RELAY, upstream_key_sequence=1
    )
    return made


def _statement(
    seed: bytes, *, relay: str = RELAY, key: str = NEW.public_hex, sequence: int = 2
) -> dict[str, str]:
    made = protocol.make_relay_key(
        seed=seed, relay=relay, public_key=key, valid_from=timezone.now(), sequence=sequence
    )
    return {protocol.HEADER_RELAY_KEY: protocol.relay_key_header(made)}


def _uploaded() -> list[int]:
    return list(
        LocalEntry.objects.filter(uploaded_at__isnull=False)
        .order_by("seq")
        .values_list("seq", flat=True)
    )


def _events(event: StationEvent) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event).order_by("id"))


def test_the_station_takes_the_new_relays_key_and_sends_again_what_the_lost_relay_held(
    setup: StationSetUp, pulls: None
) -> None:
    # Through the relay before its disk was lost: four entries acknowledged by it.
    lost = MasterDouble(station=CODE, station_public_hex=setup.key.public_hex, key=OLD)
    journal_shifts(4)
    with serving(lost) as url:
        LocalStation.objects.filter(pk=1).update(master_url=url)
        first = run_sync_cycle(force=True)
    assert first.failure == "" and _uploaded() == [1, 2, 3, 4]

    # The relay enrolled again: it holds what the master had applied (it forwarded #1-#2 before
    # its disk was lost; #3-#4 went with the disk), signs with its new key and sends the
    # master's statement of it.
    new = MasterDouble(
        station=CODE,
        station_public_hex=setup.key.public_hex,
        key=NEW,
        applied=list(lost.applied[:2]),
        headers=_statement(setup.master.seed),
    )
    journal_shifts(1)
    with serving(new) as url:
        LocalStation.objects.filter(pk=1).update(master_url=url)
        second = run_sync_cycle(force=True)
        assert second.failure == "", second.failure
        station = LocalStation.objects.get(pk=1)
        assert (station.upstream_public_key, station.upstream_key_sequence) == (NEW.public_hex, 2)
        # What the new relay lacks went again, once, cut afresh after its position.
        assert new.received == [f"{CODE}:3-5"]
        assert [e.seq for e in new.applied] == [1, 2, 3, 4, 5]
        assert _uploaded() == [1, 2, 3, 4, 5]
        # The next cycle sends nothing again.
        third = run_sync_cycle(force=True)
        assert third.failure == "" and new.received == [f"{CODE}:3-5"]
    [changed] = _events(StationEvent.UPSTREAM_KEY_CHANGED)
    before, after = changed.before or {}, changed.after or {}
    assert before["upstream_public_key"] == OLD.public_hex
    assert after["upstream_public_key"] == NEW.public_hex
    assert after["relay"] == RELAY and after["upstream_key_sequence"] == 2
    [rewound] = _events(StationEvent.UPLOAD_REWOUND)
    assert rewound.after == {
        "upstream_last_seq": 2,
        "applied_seq": 0,
        "acknowledged_to": 4,
        "sent_again": 2,
    }


class _RogueRelay(MasterDouble):
    """A relay (signing with the key the station trusts) whose status always says it holds
    nothing of the journal, and that acknowledges whatever it is sent."""

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any] | None:
        answer = super().handle(method, path, headers, body)
        if method == "GET" and path.split("?")[0].endswith("/status") and answer is not None:
            return 200, {**answer[1], "last_seq": 0, "last_hash": ""}
        return answer

    def _batch(self, data: dict[str, Any]) -> tuple[int, Any] | None:
        self.received.append(data["batch_id"])
        last = protocol.read_entry(data["entries"][-1], public_hex=self.station_public_hex)
        return 200, {
            "status": "stored",
            "batch_id": data["batch_id"],
            "last_seq": last.seq,
            "last_hash": last.entry_hash,
            "conflicts": [],
        }


def test_a_relay_saying_it_holds_nothing_rewinds_only_past_what_the_master_applied_once(
    setup: StationSetUp, pulls: None
) -> None:
    """Review round 3, finding 7: a rogue relay answering ``GET status`` with ``last_seq`` 0
    made the station send its whole journal again, with an audit event every cycle. The
    rewind now stops at what the master said it applied (``applied_seq`` of the changes
    pages, kept on the station) and the same rewind is audited once."""
    rogue = _RogueRelay(station=CODE, station_public_hex=setup.key.public_hex, key=OLD)
    journal_shifts(5)
    honest = MasterDouble(station=CODE, station_public_hex=setup.key.public_hex, key=OLD)
    with serving(honest) as url:
        LocalStation.objects.filter(pk=1).update(master_url=url)
        assert run_sync_cycle(force=True).failure == ""
    assert _uploaded() == [1, 2, 3, 4, 5]
    # The master's changes pages said it applied the journal up to #3.
    LocalStation.objects.filter(pk=1).update(applied_seq=3)
    with serving(rogue) as url:
        LocalStation.objects.filter(pk=1).update(master_url=url)
        for _ in range(3):
            assert run_sync_cycle(force=True).failure == ""
    # Only #4-#5 went again (each cycle, as the rogue keeps saying so), never #1-#3.
    assert rogue.received == [f"{CODE}:4-5"] * 3
    assert _uploaded() == [1, 2, 3, 4, 5]
    [rewound] = _events(StationEvent.UPLOAD_REWOUND)
    assert rewound.after == {
        "upstream_last_seq": 0,
        "applied_seq": 3,
        "acknowledged_to": 5,
        "sent_again": 2,
    }
    assert LocalStation.objects.get(pk=1).rewound_to == 3


FORGER = protocol.new_key_pair()
THIRD = protocol.new_key_pair()


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("none", "not signed by the master"),
        ("foreign", "is for relay 'other-relay'"),
        ("old", "is not newer than 1"),
        ("forged", "not signed by the master"),
        ("another_key", "not signed by the key the master vouches for"),
        ("garbled", "cannot be read"),
        ("unknown_relay", "does not know the code of the relay above it"),
    ],
)
def test_a_statement_forged_old_or_for_another_relay_is_refused_and_the_link_is_down(
    setup: StationSetUp, pulls: None, caplog: pytest.LogCaptureFixture, case: str, why: str
) -> None:
    master = setup.master.seed
    headers = {
        "none": {},
        "foreign": _statement(master, relay="other-relay"),
        "old": _statement(master, sequence=1),
        "forged": _statement(FORGER.seed),
        "another_key": _statement(master, key=THIRD.public_hex),
        "garbled": {protocol.HEADER_RELAY_KEY: "not-base64!"},
        "unknown_relay": _statement(master),
    }[case]
    if case == "unknown_relay":
        LocalStation.objects.filter(pk=1).update(upstream_code="", upstream_key_sequence=0)
    journal_shifts(2)
    new = MasterDouble(
        station=CODE, station_public_hex=setup.key.public_hex, key=NEW, headers=headers
    )
    with caplog.at_level(logging.WARNING, logger="gridvend.stations"), serving(new) as url:
        LocalStation.objects.filter(pk=1).update(master_url=url)
        result = run_sync_cycle(force=True)
    assert result.failure.startswith("LinkDown") and why in result.failure, result.failure
    assert result.failures == 1  # counted as a link that is down: backs off
    station = LocalStation.objects.get(pk=1)
    assert station.upstream_public_key == OLD.public_hex
    assert new.received == [] and _uploaded() == []
    assert _events(StationEvent.UPSTREAM_KEY_CHANGED) == []
    assert why in caplog.text


def test_a_station_enrolled_before_statements_learns_its_relay_from_the_key_it_trusts(
    setup: StationSetUp, pulls: None
) -> None:
    LocalStation.objects.filter(pk=1).update(upstream_code="", upstream_key_sequence=0)
    relay = MasterDouble(
        station=CODE,
        station_public_hex=setup.key.public_hex,
        key=OLD,
        headers=_statement(setup.master.seed, key=OLD.public_hex, sequence=1),
    )
    with serving(relay) as url:
        LocalStation.objects.filter(pk=1).update(master_url=url)
        assert run_sync_cycle(force=True).failure == ""
    station = LocalStation.objects.get(pk=1)
    assert (station.upstream_code, station.upstream_key_sequence) == (RELAY, 1)
    assert station.upstream_public_key == OLD.public_hex  # learning never changes the key


def _enrol(code: str, enrol_code: str, key: protocol.KeyPair, **extra: Any) -> dict[str, Any]:
    return enrolment.enrol_station(
        code=code,
        enrol_code=enrol_code,
        public_key=key.public_hex,
        app_version="test",
        exchange_key=enrolment.exchange_public_hex(enrolment.new_exchange_key()),
        **extra,
    )


def test_the_master_states_each_enrolment_of_a_relay_with_a_newer_sequence(db: None) -> None:
    signing.forget()
    world = build_world()
    scenes.pending_station(
        code=RELAY,
        org_unit_code=world.tree.north_bu.code,
        enrol_code="RELAYCODE1",
        role=StationRole.RELAY,
    )
    scenes.pending_station(
        code="bu-st1", org_unit_code=world.unit.code, enrol_code="STATIONCODE1", parent=RELAY
    )
    master = signing.signing_key().public_hex
    first = _enrol(RELAY, "RELAYCODE1", OLD)
    stated = protocol.read_relay_key(first["key_statement"], master_public_hex=master)
    assert (stated.relay, stated.public_key, stated.sequence) == (RELAY, OLD.public_hex, 1)
    # A station enrolling under it is told the same statement for the relay's key.
    child = _enrol("bu-st1", "STATIONCODE1", protocol.new_key_pair(), under_relay=True)
    told = protocol.read_relay_key(child["upstream_key_statement"], master_public_hex=master)
    assert told == stated and child["upstream_public_key"] == OLD.public_hex
    assert "key_statement" not in child

    # The relay's disk is lost: a new code, enrolled again with a new key.
    relay = Station.objects.get(code=RELAY)
    _again, code = reissue_enrolment_code(actor=world.admin, station=relay)
    second = _enrol(RELAY, code, NEW)
    restated = protocol.read_relay_key(second["key_statement"], master_public_hex=master)
    assert (restated.relay, restated.public_key, restated.sequence) == (RELAY, NEW.public_hex, 2)
    assert restated.valid_from >= stated.valid_from
    # Forged or altered, it does not read.
    altered = dict(second["key_statement"])
    altered["payload"] = altered["payload"].replace('"sequence":2', '"sequence":9')
    with pytest.raises(protocol.BadSignature):
        protocol.read_relay_key(altered, master_public_hex=master)


def test_a_relay_sends_its_statement_with_every_answer_and_init_checks_it(db: None) -> None:
    signing.forget()
    master = protocol.new_key_pair()
    stated = protocol.make_relay_key(
        seed=master.seed,
        relay=RELAY,
        public_key=NEW.public_hex,
        valid_from=timezone.now(),
        sequence=2,
    )
    scenes.identity(
        code=RELAY,
        role="relay",
        master_url="http://127.0.0.1:9/",
        seed_hex=NEW.seed.hex(),
        master_public=master.public_hex,
        upstream_public=master.public_hex,
        org_unit_id_on_master=1,
    )
    LocalStation.objects.filter(pk=1).update(key_statement=protocol.canonical(stated.wire()))
    request = RequestFactory().get("/", headers={protocol.HEADER_NONCE: "ab" * 16})
    response = auth.answer(request, {"status": "active"})
    wire = protocol.relay_key_from_header(response[protocol.HEADER_RELAY_KEY])
    assert protocol.read_relay_key(wire, master_public_hex=master.public_hex) == stated
    protocol.verify(
        NEW.public_hex,
        protocol.answer_message("ab" * 16, response.content),
        response[protocol.HEADER_MASTER_SIGNATURE],
    )
    # `station init` keeps a relay's statement only when it names that relay and its new key.
    answer = {"master_public_key": master.public_hex, "upstream_public_key": master.public_hex}
    own, _ = station_init._statements(
        {**answer, "key_statement": stated.wire()},
        station_code=RELAY,
        role=StationRole.RELAY,
        public_key=NEW.public_hex,
    )
    assert own == stated
    for code, key in ((RELAY, OLD.public_hex), ("other-relay", NEW.public_hex)):
        with pytest.raises(StationEnrolFailed):
            station_init._statements(
                {**answer, "key_statement": stated.wire()},
                station_code=code,
                role=StationRole.RELAY,
                public_key=key,
            )
    # A station told a relay's key without the master's statement of it is not enrolled.
    with pytest.raises(StationEnrolFailed):
        station_init._statements(
            {"master_public_key": master.public_hex, "upstream_public_key": NEW.public_hex},
            station_code="bu-st1",
            role=StationRole.STATION,
            public_key=OLD.public_hex,
        )


def test_entries_sent_again_that_the_master_applied_are_answered_as_applied_never_doubled(
    db: None,
) -> None:
    """The new relay's copy of a station's position may lag the master's: the entries it sends
    again that the master already applied are skipped, the rest applied once."""
    world = build_world()
    st = offline_station(world)
    meter = world.add_meter()
    entries = [st.sell(meter, "230"), st.sell(meter, "231"), st.sell(meter, "232")]
    receive_batch(station=st.station, body=batch(entries, f"{st.code}:1-3"))
    more = st.sell(meter, "233")
    answer = receive_batch(station=st.station, body=batch([*entries[1:], more], f"{st.code}:2-4"))
    assert answer["last_seq"] == 4
    again = receive_batch(station=st.station, body=batch([*entries[1:], more], f"{st.code}:2-4"))
    assert again == answer
    assert Sale.objects.filter(vending_point=st.point).count() == 4
    assert Station.objects.get(pk=st.station.pk).last_seq == 4


def _station_request(key: protocol.KeyPair, body: bytes) -> dict[str, str]:
    return signed_headers(key.seed, CODE, "/station-api/v1/vending-keys", body)


@pytest.mark.parametrize("forged", [False, True])
def test_a_relays_vending_keys_pass_up_takes_the_new_key_of_the_relay_above(
    db: None, forged: bool
) -> None:
    """This install is a relay under ``region-relay``, which was enrolled again: the vending
    keys it passes up for a station come back signed with the region relay's new key and the
    master's statement of it. Taken as every other call takes it (no more 502 until some other
    call adopted it); a statement not signed by the master is still refused."""
    master, station = protocol.new_key_pair(), protocol.new_key_pair()
    make_station(code=RELAY)
    LocalStation.objects.filter(pk=1).update(
        role=StationRole.RELAY,
        master_public_key=master.public_hex,
        upstream_public_key=OLD.public_hex,
        upstream_code="region-relay",
        upstream_key_sequence=1,
    )
    above = KeyingDouble(
        station=CODE,
        station_public_hex=station.public_hex,
        key=NEW,
        headers=_statement(FORGER.seed if forged else master.seed, relay="region-relay"),
    )
    above.held_here = {"vk-later": b"\x01" * 8}
    exchange = enrolment.exchange_public_hex(enrolment.new_exchange_key())
    body = protocol.canonical({"exchange_key": exchange, "held": []}).encode("utf-8")
    with serving(above) as url:
        LocalStation.objects.filter(pk=1).update(master_url=url)
        if forged:
            with pytest.raises(LinkDown, match="not signed by the master"):
                vending_keys.pass_up(_station_request(station, body), body)
        else:
            status, answer = vending_keys.pass_up(_station_request(station, body), body)
            assert status == 200
            assert [item["key_ref"] for item in answer["vending_keys"]] == ["vk-later"]
    me = LocalStation.objects.get(pk=1)
    if forged:
        assert (me.upstream_public_key, me.upstream_key_sequence) == (OLD.public_hex, 1)
        assert _events(StationEvent.UPSTREAM_KEY_CHANGED) == []
    else:
        assert (me.upstream_public_key, me.upstream_key_sequence) == (NEW.public_hex, 2)
        [changed] = _events(StationEvent.UPSTREAM_KEY_CHANGED)
        assert (changed.after or {})["relay"] == "region-relay"
