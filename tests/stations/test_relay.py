"""A business-unit relay keeps its stations' batches: every entry's signature and the chain are
checked against what it holds for the station, the batch is kept once (sent again: the same
acknowledgement, nothing doubled), and anything altered, removed, reordered, foreign or from a
station not below it is refused whole, audited, and leaves nothing behind. The master's
``batches/forward`` takes a batch only from a relay above the named station."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, MasterClient
from gridvend.stations.errors import StationNotUnderRelay, StationRelayRejected
from gridvend.stations.events import StationEvent
from gridvend.stations.models import (
    BatchStatus,
    Station,
    StationBatch,
    StationEntry,
    StationRole,
    StationStatus,
)
from gridvend.stations.services import relay, signing
from gridvend.vending.models import Sale
from tests.stations import scenes

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 12, 1, 8, 15, tzinfo=UTC)
RELAY = protocol.new_key_pair()
CHILD = protocol.new_key_pair()
OTHER = protocol.new_key_pair()
MASTER = protocol.new_key_pair()


def journal(
    pair: protocol.KeyPair,
    count: int,
    *,
    station: str = "bu-st1",
    start: int = 1,
    prev: str = protocol.GENESIS,
) -> list[protocol.SignedEntry]:
    entries = []
    for seq in range(start, start + count):
        made = protocol.make_entry(
            seed=pair.seed,
            station=station,
            seq=seq,
            kind="sale",
            occurred_at=WHEN + timedelta(minutes=seq),
            prev=prev,
            data={"reference": f"S{seq}", "tender_minor": 10_000, "sold_total_minor": 10_000 * seq},
        )
        entries.append(made)
        prev = made.entry_hash
    return entries


def batch(entries: list[protocol.SignedEntry], batch_id: str = "b-1") -> dict[str, Any]:
    return {"batch_id": batch_id, "entries": [e.wire() for e in entries]}


def signed_post(client: Client, path: str, data: object, *, code: str, seed: bytes) -> Any:
    body = protocol.canonical(data).encode("utf-8")
    stamp = protocol.utc_text(timezone.now())
    nonce = protocol.new_nonce()
    message = protocol.request_message("POST", path, stamp, nonce, body)
    headers = {
        protocol.HEADER_STATION: code,
        protocol.HEADER_TIME: stamp,
        protocol.HEADER_NONCE: nonce,
        protocol.HEADER_SIGNATURE: protocol.sign(seed, message),
    }
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    # Every answer is signed by this install's key over the request's nonce.
    protocol.verify(
        signing.signing_key().public_hex,
        protocol.answer_message(nonce, response.content),
        response[protocol.HEADER_MASTER_SIGNATURE],
    )
    return response


@pytest.fixture
def on_relay() -> Station:
    """This install is relay ``bu-relay``; ``bu-st1`` is below it, ``far-st`` is not."""
    signing.forget()
    scenes.station_rows(
        relay="bu-relay",
        relay_public=RELAY.public_hex,
        child="bu-st1",
        child_public=CHILD.public_hex,
        other="far-st",
        other_public=OTHER.public_hex,
    )
    scenes.identity(
        code="bu-relay",
        role="relay",
        master_url="http://127.0.0.1:9/",
        seed_hex=RELAY.seed.hex(),
        master_public=MASTER.public_hex,
        upstream_public=MASTER.public_hex,
        org_unit_id_on_master=1,
    )
    return Station.objects.get(code="bu-st1")


def held(station: Station) -> list[tuple[int, str]]:
    return list(
        StationEntry.objects.filter(station=station)
        .order_by("seq")
        .values_list("seq", "entry_hash")
    )


def test_a_childs_batch_is_kept_for_forwarding_and_acknowledged_as_stored(on_relay) -> None:
    entries = journal(CHILD, 3)
    answer = relay.store_batch(station=on_relay, body=batch(entries))
    assert answer == {
        "status": "stored",
        "batch_id": "b-1",
        "last_seq": 3,
        "last_hash": entries[-1].entry_hash,
        "conflicts": [],
    }
    kept = StationBatch.objects.get(station=on_relay, batch_id="b-1")
    assert (kept.status, kept.first_seq, kept.last_seq, kept.entry_count) == ("stored", 1, 3, 3)
    assert kept.forwarded_at is None
    assert held(on_relay) == [(e.seq, e.entry_hash) for e in entries]
    # Kept byte for byte, so the master verifies the station's own signatures.
    assert [row.body for row in StationEntry.objects.order_by("seq")] == [e.body for e in entries]
    assert AuditEvent.objects.filter(event_type=StationEvent.BATCH_STORED).count() == 1


def test_the_same_batch_twice_is_kept_once_and_answered_alike(on_relay) -> None:
    entries = journal(CHILD, 3)
    first = relay.store_batch(station=on_relay, body=batch(entries))
    again = relay.store_batch(station=on_relay, body=batch(entries))
    assert first == again
    assert StationBatch.objects.count() == 1 and StationEntry.objects.count() == 3


def test_entries_sent_again_under_a_new_batch_id_are_not_kept_twice(on_relay) -> None:
    # The station lost the acknowledgement (killed mid-upload) and sends from entry 2 on.
    entries = journal(CHILD, 5)
    relay.store_batch(station=on_relay, body=batch(entries[:3], "b-1"))
    answer = relay.store_batch(station=on_relay, body=batch(entries[1:], "b-2"))
    assert answer["last_seq"] == 5
    second = StationBatch.objects.get(batch_id="b-2")
    assert (second.first_seq, second.last_seq, second.entry_count) == (4, 5, 2)
    assert [seq for seq, _ in held(on_relay)] == [1, 2, 3, 4, 5]


def test_the_next_batch_must_continue_the_chain_held(on_relay) -> None:
    entries = journal(CHILD, 4)
    relay.store_batch(station=on_relay, body=batch(entries[:2], "b-1"))
    assert relay.store_batch(station=on_relay, body=batch(entries[2:], "b-2"))["last_seq"] == 4


def _edited(entries: list[protocol.SignedEntry]) -> list[dict[str, str]]:
    wires = [e.wire() for e in entries]
    wires[1]["body"] = wires[1]["body"].replace("10000", "1", 1)
    return wires


def _rehashed(entries: list[protocol.SignedEntry]) -> list[dict[str, str]]:
    wires = _edited(entries)
    wires[1]["hash"] = protocol.sha256_hex(wires[1]["body"])
    return wires


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_edited, id="edited"),
        pytest.param(_rehashed, id="edited-and-rehashed"),
        pytest.param(lambda es: [es[0].wire(), es[2].wire()], id="removed"),
        pytest.param(lambda es: [es[0].wire(), es[2].wire(), es[1].wire()], id="reordered"),
        pytest.param(lambda es: [e.wire() for e in es[1:]], id="not-from-the-start"),
        pytest.param(lambda es: [e.wire() for e in journal(OTHER, 3)], id="signed-by-another"),
        pytest.param(
            lambda es: [e.wire() for e in journal(CHILD, 3, station="far-st")],
            id="names-another-station",
        ),
        pytest.param(lambda es: [{"body": "x"}], id="not-an-entry"),
    ],
)
def test_a_tampered_batch_is_refused_whole_and_audited(on_relay, tamper) -> None:
    wires = tamper(journal(CHILD, 3))
    with pytest.raises(StationRelayRejected) as refused:
        relay.store_batch(station=on_relay, body={"batch_id": "b-1", "entries": wires})
    assert refused.value.code == "STATION_RELAY_REJECTED"
    assert not StationBatch.objects.exists() and not StationEntry.objects.exists()
    rejected = AuditEvent.objects.get(event_type=StationEvent.BATCH_REJECTED)
    assert "b-1" in json.dumps(rejected.after)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"batch_id": "b 1", "entries": []},
        {"batch_id": "b-1", "entries": []},
        {"batch_id": "x" * 65, "entries": [{}]},
        {"batch_id": "b-1", "entries": "no"},
        {"batch_id": "b-1", "entries": [{}] * (relay.MAX_BATCH_ENTRIES + 1)},
    ],
)
def test_a_malformed_batch_is_refused(on_relay, body) -> None:
    with pytest.raises(StationRelayRejected):
        relay.store_batch(station=on_relay, body=body)
    assert not StationBatch.objects.exists()


def test_the_same_batch_id_with_other_entries_is_refused(on_relay) -> None:
    entries = journal(CHILD, 4)
    relay.store_batch(station=on_relay, body=batch(entries[:2], "b-1"))
    with pytest.raises(StationRelayRejected):
        relay.store_batch(station=on_relay, body=batch(entries[2:], "b-1"))
    assert StationEntry.objects.count() == 2


def test_a_station_not_below_this_relay_is_refused(on_relay) -> None:
    far = Station.objects.get(code="far-st")
    with pytest.raises(StationNotUnderRelay):
        relay.store_batch(station=far, body=batch(journal(OTHER, 1, station="far-st")))
    assert not StationBatch.objects.exists()


def test_the_relay_answers_a_childs_upload_over_http_signed_with_its_own_key(on_relay) -> None:
    entries = journal(CHILD, 2)
    path = reverse("station_api:batches")
    response = signed_post(Client(), path, batch(entries), code="bu-st1", seed=CHILD.seed)
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["status"] == "stored"
    # Signed with the relay's own key, the one the master knows it by.
    assert signing.signing_key().public_hex == RELAY.public_hex
    # A revoked (or suspended) child is refused by the relay once its row says so.
    Station.objects.filter(code="bu-st1").update(status="revoked")
    more = journal(CHILD, 1, start=3, prev=entries[-1].entry_hash)
    refused = signed_post(Client(), path, batch(more, "b-2"), code="bu-st1", seed=CHILD.seed)
    assert refused.status_code == 403
    assert json.loads(refused.content)["error"]["code"] == "STATION_NOT_ACTIVE"
    assert StationEntry.objects.count() == 2


def test_an_upload_signed_by_another_key_is_refused_over_http(on_relay) -> None:
    path = reverse("station_api:batches")
    response = signed_post(Client(), path, batch(journal(CHILD, 1)), code="bu-st1", seed=OTHER.seed)
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "STATION_AUTH_FAILED"
    assert not StationBatch.objects.exists()


def test_a_relay_with_relays_below_it_keeps_what_they_forward(on_relay) -> None:
    # bu-relay is the parent of bu-st1; a forward names bu-st1 and is signed by bu-relay.
    entries = journal(CHILD, 2)
    path = reverse("station_api:batches-forward")
    data = {"station": "bu-st1", **batch(entries)}
    response = signed_post(Client(), path, data, code="bu-relay", seed=RELAY.seed)
    assert response.status_code == 200, response.content
    kept = StationBatch.objects.get()
    assert kept.via is not None and kept.via.code == "bu-relay"


# --- The master's side of forwarding --------------------------------------------------------


@pytest.fixture
def on_master() -> None:
    signing.forget()
    scenes.station_rows(
        relay="bu-relay",
        relay_public=RELAY.public_hex,
        child="bu-st1",
        child_public=CHILD.public_hex,
        other="far-st",
        other_public=OTHER.public_hex,
    )


@pytest.mark.parametrize(
    ("caller", "seed", "named", "code"),
    [
        # A station that is not a relay forwards for another.
        ("far-st", OTHER.seed, "bu-st1", "STATION_NOT_UNDER_RELAY"),
        # The relay forwards for a station of another business unit.
        ("bu-relay", RELAY.seed, "far-st", "STATION_NOT_UNDER_RELAY"),
        ("bu-relay", RELAY.seed, "no-such", "STATION_NOT_UNDER_RELAY"),
        # A child forwards for itself, as if it were a relay.
        ("bu-st1", CHILD.seed, "bu-st1", "STATION_NOT_UNDER_RELAY"),
        # Someone signs as the relay without its key.
        ("bu-relay", OTHER.seed, "bu-st1", "STATION_AUTH_FAILED"),
    ],
    # Named ids: the keys are made at import, so ids from their bytes would differ between
    # pytest-xdist's workers and the run would refuse to start.
    ids=["not-a-relay", "foreign-station", "unknown-station", "child-as-relay", "wrong-key"],
)
def test_the_master_takes_a_forwarded_batch_only_from_a_relay_above_the_station(
    on_master, caller, seed, named, code
) -> None:
    path = reverse("station_api:batches-forward")
    data = {"station": named, **batch(journal(CHILD, 1))}
    response = signed_post(Client(), path, data, code=caller, seed=seed)
    assert response.status_code == 403 if code == "STATION_AUTH_FAILED" else 409
    assert json.loads(response.content)["error"]["code"] == code
    assert not StationBatch.objects.exists() and not StationEntry.objects.exists()


def test_a_forwarded_body_names_a_station_and_nothing_else_passes(on_master) -> None:
    relay_row = Station.objects.get(code="bu-relay")
    station, body = relay.forwarded_batch(
        relay=relay_row, data={"station": "bu-st1", "batch_id": "b", "entries": [], "x": 1}
    )
    assert station.code == "bu-st1" and body == {"batch_id": "b", "entries": []}
    hostiles: list[object] = [None, [], {"station": 5}, {"station": "x" * 500}]
    for hostile in hostiles:
        with pytest.raises(StationNotUnderRelay):
            relay.forwarded_batch(relay=relay_row, data=hostile)


needs_journal = pytest.mark.skipif(
    importlib.util.find_spec("gridvend.stations.services.journal") is None,
    reason="needs the master's journal (stations.services.journal.receive_batch, issue 17 sta)",
)


@needs_journal
def test_the_master_applies_a_forwarded_batch_once_and_names_the_relay() -> None:
    # A real station journal (priced sales, tokens by the meter's key) of a station whose
    # parent is the relay: the master applies it as if the station had uploaded it itself.
    from tests.stations.offline import offline_station
    from tests.world import build_world

    signing.forget()
    world = build_world()
    st = offline_station(world)
    relay_row = Station.objects.create(
        code="bu-relay",
        name="Relay",
        role=StationRole.RELAY,
        org_unit=world.unit,
        status=StationStatus.ACTIVE,
        public_key=RELAY.public_hex,
        enrolled_at=timezone.now(),
    )
    Station.objects.filter(pk=st.station.pk).update(parent=relay_row)
    meter = world.add_meter()
    entries = [st.sell(meter, "250"), st.sell(meter, "260")]
    path = reverse("station_api:batches-forward")
    data = {"station": st.code, "batch_id": "b-1", "entries": entries}
    first = signed_post(Client(), path, data, code="bu-relay", seed=RELAY.seed)
    again = signed_post(Client(), path, data, code="bu-relay", seed=RELAY.seed)
    assert first.status_code == again.status_code == 200, first.content
    assert json.loads(first.content) == json.loads(again.content)
    assert json.loads(first.content)["status"] == "applied"
    applied = StationBatch.objects.get(station=st.station)
    assert applied.status == BatchStatus.APPLIED and applied.via is not None
    assert applied.via.code == "bu-relay"
    assert StationEntry.objects.filter(station=st.station, sale__isnull=False).count() == 2
    assert Sale.objects.filter(vending_point=st.point).count() == 2


# --- Forwarding up, to a next hop on a real socket ------------------------------------------

UPSTREAM = protocol.new_key_pair()


class Upstream:
    """The smallest next hop: on loopback, it checks the relay's request signature and answers
    ``batches/forward`` as told (``mode``), signed with ``UPSTREAM``'s key (or not)."""

    def __init__(self, mode: str = "ack") -> None:
        self.mode = mode
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                message = protocol.request_message(
                    "POST",
                    self.path,
                    self.headers[protocol.HEADER_TIME],
                    self.headers[protocol.HEADER_NONCE],
                    raw,
                )
                protocol.verify(RELAY.public_hex, message, self.headers[protocol.HEADER_SIGNATURE])
                assert self.headers[protocol.HEADER_STATION] == "bu-relay"
                assert self.path == "/station-api/v1/batches/forward"
                data = json.loads(raw)
                outer.received.append(data)
                status, answer = 200, {"status": "applied", "batch_id": data["batch_id"]}
                if outer.mode == "refuse":
                    status = 409
                    answer = {"error": {"code": "STATION_JOURNAL_REJECTED", "message": "no"}}
                elif outer.mode == "other-batch":
                    answer["batch_id"] = "not-" + data["batch_id"]
                body = protocol.canonical(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if outer.mode != "unsigned":
                    nonce = self.headers[protocol.HEADER_NONCE]
                    signature = protocol.sign(UPSTREAM.seed, protocol.answer_message(nonce, body))
                    self.send_header(protocol.HEADER_MASTER_SIGNATURE, signature)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self) -> MasterClient:
        port = self.server.server_address[1]
        return MasterClient(
            base_url=f"http://127.0.0.1:{port}/",
            station="bu-relay",
            seed=RELAY.seed,
            master_public_hex=UPSTREAM.public_hex,
            timeout=5,
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    made = Upstream()
    yield made
    made.close()


def _two_batches(station: Station) -> list[protocol.SignedEntry]:
    entries = journal(CHILD, 4)
    relay.store_batch(station=station, body=batch(entries[:2], "b-1"))
    relay.store_batch(station=station, body=batch(entries[2:], "b-2"))
    return entries


def _forwarded() -> list[tuple[str, bool]]:
    return [
        (b.batch_id, b.forwarded_at is not None) for b in StationBatch.objects.order_by("first_seq")
    ]


def test_kept_batches_go_up_unchanged_and_are_marked_once_acknowledged(on_relay, upstream) -> None:
    entries = _two_batches(on_relay)
    done = relay.forward_pending(upstream.client())
    assert (done.forwarded, done.entries, done.refused, done.more) == (2, 4, [], False)
    assert [r["batch_id"] for r in upstream.received] == ["b-1", "b-2"]
    sent = [wire for body in upstream.received for wire in body["entries"]]
    # The station's own signed entries: the next hop verifies them with the station's key.
    assert sent == [e.wire() for e in entries]
    assert [protocol.read_entry(w, public_hex=CHILD.public_hex).seq for w in sent] == [1, 2, 3, 4]
    assert {r["station"] for r in upstream.received} == {"bu-st1"}
    assert [r["unsynced_since"] for r in upstream.received] == [
        protocol.utc_text(WHEN + timedelta(minutes=1)),
        protocol.utc_text(WHEN + timedelta(minutes=3)),
    ]
    assert _forwarded() == [("b-1", True), ("b-2", True)]
    assert AuditEvent.objects.filter(event_type=StationEvent.BATCH_FORWARDED).count() == 2
    # Nothing is left to send.
    assert relay.forward_pending(upstream.client()).forwarded == 0
    assert len(upstream.received) == 2


def test_a_dead_next_hop_loses_nothing(on_relay, upstream) -> None:
    _two_batches(on_relay)
    client = upstream.client()
    upstream.close()
    with pytest.raises(LinkDown):
        relay.forward_pending(client)
    assert _forwarded() == [("b-1", False), ("b-2", False)]


@pytest.mark.parametrize("mode", ["unsigned", "other-batch"])
def test_an_answer_that_is_not_the_next_hops_acknowledgement_marks_nothing(
    on_relay, upstream, mode
) -> None:
    _two_batches(on_relay)
    upstream.mode = mode
    with pytest.raises(LinkDown):
        relay.forward_pending(upstream.client())
    assert _forwarded() == [("b-1", False), ("b-2", False)]


def test_a_refused_batch_is_kept_and_its_stations_later_batches_wait(on_relay, upstream) -> None:
    _two_batches(on_relay)
    upstream.mode = "refuse"
    done = relay.forward_pending(upstream.client())
    assert done.refused == [("bu-st1", "b-1", "STATION_JOURNAL_REJECTED")]
    assert done.forwarded == 0
    assert [r["batch_id"] for r in upstream.received] == ["b-1"]  # b-2 waits behind it
    assert _forwarded() == [("b-1", False), ("b-2", False)]
    flagged = AuditEvent.objects.get(event_type=StationEvent.BATCH_REJECTED)
    assert (flagged.after or {})["code"] == "STATION_JOURNAL_REJECTED"
    # Accepted later (the supervisor sorted it out upstream): both go.
    upstream.mode = "ack"
    assert relay.forward_pending(upstream.client()).forwarded == 2


def test_forwarding_stops_at_its_limit_and_says_more_is_left(on_relay, upstream) -> None:
    _two_batches(on_relay)
    done = relay.forward_pending(upstream.client(), limit=1)
    assert (done.forwarded, done.more) == (1, True)
    assert _forwarded() == [("b-1", True), ("b-2", False)]


# --- Hostile requests: never a server error, always a signed refusal ------------------------


@pytest.mark.parametrize("name", ["station_api:batches", "station_api:batches-forward"])
def test_hostile_requests_are_refused_signed_and_leave_nothing(on_relay, name) -> None:
    path = reverse(name)
    client = Client()
    assert client.get(path).status_code == 405
    # Unsigned.
    unsigned = client.post(path, data=b"{}", content_type="application/json")
    assert unsigned.status_code == 403
    assert json.loads(unsigned.content)["error"]["code"] == "STATION_AUTH_FAILED"
    # Declared larger than the cap: refused before it is read.
    huge = client.post(
        path,
        data=b"{}",
        content_type="application/json",
        CONTENT_LENGTH=str(10**13),
    )
    assert huge.status_code == 403
    # Signed, but not JSON, or JSON of the wrong shape.
    for body in (b"\xff\xfe", b"[1, 2", b"null", b"1e999999"):
        stamp, nonce = protocol.utc_text(timezone.now()), protocol.new_nonce()
        message = protocol.request_message("POST", path, stamp, nonce, body)
        answer = client.post(
            path,
            data=body,
            content_type="application/json",
            headers={
                protocol.HEADER_STATION: "bu-st1",
                protocol.HEADER_TIME: stamp,
                protocol.HEADER_NONCE: nonce,
                protocol.HEADER_SIGNATURE: protocol.sign(CHILD.seed, message),
            },
        )
        assert 400 <= answer.status_code < 500, body
        protocol.verify(
            signing.signing_key().public_hex,
            protocol.answer_message(nonce, answer.content),
            answer[protocol.HEADER_MASTER_SIGNATURE],
        )
    assert not StationBatch.objects.exists() and not StationEntry.objects.exists()


def test_a_childs_status_comes_from_the_relays_copy_with_the_masters_allowance(on_relay) -> None:
    from gridvend.stations.models import StationAllowance
    from tests.factories import root_and_admin

    now = timezone.now()
    made = protocol.make_allowance(
        seed=MASTER.seed,
        station="bu-st1",
        sequence=3,
        ceiling_minor=500_000,
        currency="KES",
        valid_from=now,
        valid_until=now + timedelta(days=2),
        issued_at=now,
    )
    StationAllowance.objects.create(
        station=on_relay,
        sequence=3,
        ceiling_minor=500_000,
        currency="KES",
        valid_from=made.valid_from,
        valid_until=made.valid_until,
        payload=made.payload,
        signature=made.signature,
        issued_by=root_and_admin()[1],
    )
    entries = journal(CHILD, 2)
    relay.store_batch(station=on_relay, body=batch(entries))
    status = relay.child_status(on_relay)
    assert status["status"] == "active"
    assert (status["last_seq"], status["last_hash"]) == (2, entries[-1].entry_hash)
    # Passed on exactly as the master signed it: the station verifies it with the master's key.
    wire = status["allowance"]
    assert protocol.read_allowance(wire, master_public_hex=MASTER.public_hex, station="bu-st1")


def _signed_status(code: str, seed: bytes, query: str = "") -> Any:
    path = reverse("station_api:status")
    stamp, nonce = protocol.utc_text(timezone.now()), protocol.new_nonce()
    # The path with its query string is signed.
    message = protocol.request_message("GET", path + query, stamp, nonce, b"")
    response = Client().get(
        path + query,
        headers={
            protocol.HEADER_STATION: code,
            protocol.HEADER_TIME: stamp,
            protocol.HEADER_NONCE: nonce,
            protocol.HEADER_SIGNATURE: protocol.sign(seed, message),
        },
    )
    protocol.verify(
        signing.signing_key().public_hex,
        protocol.answer_message(nonce, response.content),
        response[protocol.HEADER_MASTER_SIGNATURE],
    )
    return response


def test_the_relay_answers_its_stations_status_over_http_from_its_copy(on_relay) -> None:
    entries = journal(CHILD, 2)
    relay.store_batch(station=on_relay, body=batch(entries))
    since = protocol.utc_text(WHEN)
    response = _signed_status("bu-st1", CHILD.seed, f"?unsynced_since={since}")
    assert response.status_code == 200, response.content
    answer = json.loads(response.content)
    assert (answer["status"], answer["last_seq"], answer["last_hash"]) == (
        "active",
        2,
        entries[-1].entry_hash,
    )
    seen = Station.objects.get(code="bu-st1")
    assert seen.last_contact_at is not None and seen.unsynced_since == WHEN
    # Suspended on the relay's copy (pulled from the master): still answered, so it stops.
    Station.objects.filter(code="bu-st1").update(status="suspended", status_reason="audit")
    answer = json.loads(_signed_status("bu-st1", CHILD.seed).content)
    assert (answer["status"], answer["reason"]) == ("suspended", "audit")
    # A station the relay holds but does not serve is refused.
    refused = _signed_status("far-st", OTHER.seed)
    assert refused.status_code == 409
    assert json.loads(refused.content)["error"]["code"] == "STATION_NOT_UNDER_RELAY"
