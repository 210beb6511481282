"""Review probes, round 3 (issue 17): an attacker's and a careless user's look at the vending-keys
statement through relays, the PyNaCl signatures, the upstream-key adoption shared by the client
and the relay's pass-up, and the station surfaces around them. Each test proves one finding; a
finding not fixed yet is marked xfail(strict) with its reason, so the fix flips it."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, MasterClient
from gridvend.stations.errors import StationEnrolFailed, StationJournalRejected
from gridvend.stations.models import LocalStation, StationEntry
from gridvend.stations.services import station_init
from gridvend.stations.services.journal import receive_batch
from gridvend.stations.services.sync import run_sync_cycle
from tests.stations.conftest import Scene
from tests.stations.master_double import MasterDouble, served_to_station, stand_in_pull
from tests.stations.offline import batch, offline_station
from tests.stations.station_world import (
    CODE,
    StationSetUp,
    make_station,
    station_mode_forgotten,
)
from tests.world import build_world

pytestmark = pytest.mark.django_db

RELAY = "bu-relay"
RELAY_KEY = protocol.new_key_pair()
# Base64 of 1,400 "[": inside the 2,000-character limit of the X-Relay-Key header, and deeper
# than the JSON decoder's recursion limit.
DEEP_HEADER = base64.b64encode(b"[" * 1_400).decode("ascii")


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


@pytest.fixture
def under_relay(db: None) -> StationSetUp:
    """A station under relay ``bu-relay``, trusting the relay's key (statement 1)."""
    made = make_station()
    LocalStation.objects.filter(pk=1).update(
        upstream_public_key=RELAY_KEY.public_hex, upstream_code=RELAY, upstream_key_sequence=1
    )
    return made


def test_an_unsigned_answer_with_a_deeply_nested_relay_key_header_is_a_link_down(
    under_relay: StationSetUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Medium. Anyone on the path (or at a wrong master URL) answers a station under a relay
    with a bad signature and ``X-Relay-Key: base64("[" * 1400)``. ``check_answer_signature``
    asks ``UpstreamKeys.vouched``, whose ``relay_key_from_header`` catches only ValueError: the
    JSON decoder's RecursionError escapes ``_run_cycle`` (which catches LinkDown, Refused,
    AcknowledgementMismatch), so the cron job crashes every minute with a traceback and
    ``_finish`` never runs: no failure counted, no back-off, ``last_failure`` empty, the
    status screen says nothing. The same header makes a relay's vending-keys pass-up a 500
    (not 502). Expected: a LinkDown like any other untrusted answer."""
    stand_in_pull(monkeypatch)
    double = MasterDouble(
        station=CODE,
        station_public_hex=under_relay.key.public_hex,
        key=RELAY_KEY,
        mode="unsigned",
        headers={protocol.HEADER_RELAY_KEY: DEEP_HEADER},
    )
    with served_to_station(double):
        result = run_sync_cycle(force=True)
    assert result.failure.startswith("LinkDown")
    station = LocalStation.objects.get(pk=1)
    assert station.failures == 1
    assert station.upstream_public_key == RELAY_KEY.public_hex


def test_an_unsigned_answer_with_a_garbage_relay_key_header_is_a_link_down(
    under_relay: StationSetUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: the same attack with a shallow non-JSON header is counted as a link down and
    the trusted key is kept (the control for the probe above)."""
    stand_in_pull(monkeypatch)
    double = MasterDouble(
        station=CODE,
        station_public_hex=under_relay.key.public_hex,
        key=RELAY_KEY,
        mode="unsigned",
        headers={protocol.HEADER_RELAY_KEY: base64.b64encode(b"[[[").decode("ascii")},
    )
    with served_to_station(double):
        result = run_sync_cycle(force=True)
    assert result.failure.startswith("LinkDown")
    assert LocalStation.objects.get(pk=1).failures == 1


DEEP_BODY = b"[" * 3_000  # inside every station-API body limit; deeper than the decoder goes


def test_an_anonymous_enrolment_with_deeply_nested_json_is_refused_not_a_500() -> None:
    """Low. Anyone who reaches the master's station API posts 3,000 bytes of ``[`` to
    ``/station-api/v1/enrol`` (no key, no code needed). ``auth.parse_json`` catches only
    UnicodeDecodeError and ValueError, so the decoder's RecursionError is an unhandled 500
    with a traceback in the log for every request (a cheap log-flooder; nothing is written).
    The same body signed by an enrolled station does the same to ``vending-keys``,
    ``batches`` and ``batches/forward``. Expected: the stable refusal a non-JSON body gets."""
    client = Client(raise_request_exception=False)
    response = client.post("/station-api/v1/enrol", DEEP_BODY, content_type="application/json")
    assert response.status_code < 500
    assert json.loads(response.content)["error"]["code"] == "STATION_AUTH_FAILED"


def test_an_anonymous_enrolment_that_is_not_json_is_refused_with_a_stable_code() -> None:
    """Holds (the control above): a body that is not JSON at all gets the stable refusal."""
    response = Client().post("/station-api/v1/enrol", b"[", content_type="application/json")
    assert response.status_code < 500
    assert json.loads(response.content)["error"]["code"] == "STATION_AUTH_FAILED"


@pytest.fixture
def wrong_url() -> Iterator[str]:
    """Some other web server, not a gridvend master: it answers 404 with a deeply nested JSON
    body (a careless operator's typo in --master, or a captive portal)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(DEEP_BODY)))
            self.end_headers()
            self.wfile.write(DEEP_BODY)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_station_init_against_a_server_answering_deep_json_fails_cleanly(wrong_url: str) -> None:
    """Low. ``gridvend station init --master <wrong URL>``: the server there answers 404 with
    a deeply nested JSON body. ``_refusal`` reads the error with ``json.loads`` and catches
    UnicodeDecodeError, ValueError, AttributeError: the RecursionError ends the command with a
    traceback instead of "the master answered 404" (``StationEnrolFailed``). Nothing is kept
    either way."""
    with pytest.raises(StationEnrolFailed):
        station_init.init_station(
            master_url=wrong_url, station_code=CODE, enrol_code="x" * 20, app_version="17.0"
        )
    assert not LocalStation.objects.exists()


def test_an_entry_whose_signature_has_a_trailing_newline_is_refused() -> None:
    """Low. ``protocol.verify`` checks the signature's text with ``^[0-9a-f]{128}$``; ``$``
    also matches before a final newline, and ``bytes.fromhex`` skips whitespace, so ``sig +
    "\\n"`` verifies (the same for a public key, ``HEX64``, used for enrolment keys and
    hashes). A station (or a relay that stores and forwards) can send an entry whose
    signature text is 129 characters: on PostgreSQL its 128-character column refuses it
    with a DataError (a 500 for the whole batch, sent again and again); on SQLite the master
    keeps a signature that is not the one the station made. Expected: refused as not hex
    (``re.fullmatch`` or ``\\Z``)."""
    pair = protocol.new_key_pair()
    made = protocol.make_entry(
        seed=pair.seed,
        station=CODE,
        seq=1,
        kind="shift_opened",
        occurred_at=datetime(2026, 12, 1, 8, tzinfo=UTC),
        prev=protocol.GENESIS,
        data={},
    )
    wire = {**made.wire(), "signature": made.signature + "\n"}
    with pytest.raises(protocol.BadSignature):
        protocol.read_entry(wire, public_hex=pair.public_hex)


def test_the_master_refuses_a_batch_whose_entry_signature_has_a_trailing_newline() -> None:
    """Low (the probe above, end to end): ``receive_batch`` of one ``shift_opened`` entry whose
    signature text ends in a newline. Expected: refused with STATION_JOURNAL_REJECTED and
    nothing kept. Seen: SQLite keeps the entry with the altered signature; PostgreSQL raises
    DataError (value too long for varchar(128)) out of the service."""
    st = offline_station(build_world())
    wire = st.open_shift()
    wire["signature"] += "\n"
    with pytest.raises(StationJournalRejected):
        receive_batch(station=st.station, body=batch([wire]))
    assert not StationEntry.objects.filter(station=st.station).exists()


def test_numbering_placeholders_does_not_keep_hundreds_of_megabytes() -> None:
    """Low (memory, PostgreSQL only in production: ``bulk_sql`` numbers placeholders there).
    ``rows._numbered`` is ``lru_cache(maxsize=64)`` on the statement's text: each text and its
    numbered form are kept for the life of the process. A batch's ledger and audit INSERTs
    have up to 65,535 placeholders, and every row count is a different text (the last chunk of
    each uploaded batch is a new size), so after 64 large uploads a worker keeps about 200 MB
    it never frees (measured: 64 ledger-shaped statements of ~13,000 rows, RSS +203 MB).
    Expected: a bound on what is kept (cache by row shape and count, or only small texts)."""
    import gc
    import tracemalloc

    from gridvend import rows

    row = (
        "(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS varchar(40)), "
        "CAST(%s AS bigint), CAST(%s AS varchar(3)))"
    )
    rows._numbered.cache_clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for count in range(2_000, 2_000 - 64, -1):
            rows._numbered("INSERT INTO x VALUES " + ", ".join([row] * count))
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        rows._numbered.cache_clear()
    # 64 statements of ~2,000 rows (10,000 placeholders): ~30 MB kept by the cache.
    assert kept < 8 * 1024 * 1024, f"{kept / 1e6:.0f} MB kept"


# --- A relay's forwarding: one station's batch that the next hop cannot take ----------------

RELAY_PAIR = protocol.new_key_pair()
UPSTREAM_PAIR = protocol.new_key_pair()
POISONED = protocol.new_key_pair()
HEALTHY = protocol.new_key_pair()


class _FailingUpstream:
    """The next hop on loopback: answers ``batches/forward`` for ``failing`` with a 500 (as a
    PostgreSQL master does for an entry whose signature has a trailing newline, above) and
    acknowledges every other station's batch, signed."""

    def __init__(self, failing: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(data["station"])
                status, answer = 200, {"status": "applied", "batch_id": data["batch_id"]}
                if data["station"] == failing:
                    status, answer = 500, {"error": "DataError"}
                body = protocol.canonical(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                nonce = self.headers[protocol.HEADER_NONCE]
                self.send_header(
                    protocol.HEADER_MASTER_SIGNATURE,
                    protocol.sign(UPSTREAM_PAIR.seed, protocol.answer_message(nonce, body)),
                )
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def client(self) -> MasterClient:
        return MasterClient(
            base_url=f"http://127.0.0.1:{self.server.server_address[1]}/",
            station="bu-relay",
            seed=RELAY_PAIR.seed,
            master_public_hex=UPSTREAM_PAIR.public_hex,
            timeout=5,
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _one_entry(pair: protocol.KeyPair, station: str) -> dict[str, object]:
    made = protocol.make_entry(
        seed=pair.seed,
        station=station,
        seq=1,
        kind="shift_opened",
        occurred_at=datetime(2026, 12, 1, 8, 15, tzinfo=UTC),
        prev=protocol.GENESIS,
        data={"shift": 1},
    )
    return {"batch_id": f"{station}:1-1", "entries": [made.wire()]}


def test_one_stations_batch_the_next_hop_cannot_take_does_not_stall_its_siblings() -> None:
    """Medium. A relay forwards kept batches ordered by station id; a refusal (4xx) blocks
    only that station, but a 5xx for one batch is ``LinkDown`` and ends ``forward_pending``,
    so every station sorted after it is never forwarded, cycle after cycle, while the
    relay's status shows only "link down". A malicious station owner triggers it for all its
    siblings with one entry whose signature ends in a newline (a SQLite relay keeps it, a
    PostgreSQL master answers 500: see the probes above); any master bug on one entry does
    the same. Reproduce: two stations under a relay, the first one's batch answered 500.
    Expected: the other station's batch still goes up (the failing one retried later)."""
    from gridvend.stations.models import Station, StationBatch, StationRole, VendingPoint
    from gridvend.stations.services import relay, signing
    from tests.stations import scenes

    signing.forget()
    scenes.station_rows(
        relay="bu-relay",
        relay_public=RELAY_PAIR.public_hex,
        child="bu-st1",
        child_public=POISONED.public_hex,
    )
    first = Station.objects.get(code="bu-st1")
    second = Station.objects.create(
        code="bu-st2",
        name="Station bu-st2",
        role=StationRole.STATION,
        org_unit=first.org_unit,
        vending_point=VendingPoint.objects.create(
            org_unit=first.org_unit, code="scene-sc-point-2", name="Point 2", channel="pay_office"
        ),
        parent=first.parent,
        tid_lane=2,
        status=first.status,
        public_key=HEALTHY.public_hex,
        enrolled_at=first.enrolled_at,
    )
    scenes.identity(
        code="bu-relay",
        role="relay",
        master_url="http://127.0.0.1:9/",
        seed_hex=RELAY_PAIR.seed.hex(),
        master_public=UPSTREAM_PAIR.public_hex,
        upstream_public=UPSTREAM_PAIR.public_hex,
        org_unit_id_on_master=1,
    )
    relay.store_batch(station=first, body=_one_entry(POISONED, "bu-st1"))
    relay.store_batch(station=second, body=_one_entry(HEALTHY, "bu-st2"))
    upstream = _FailingUpstream(failing="bu-st1")
    try:
        with contextlib.suppress(LinkDown):
            relay.forward_pending(upstream.client())
    finally:
        upstream.close()
    assert "bu-st2" in upstream.received
    assert StationBatch.objects.get(station=second).forwarded_at is not None
    assert StationBatch.objects.get(station=first).forwarded_at is None
    signing.forget()


@pytest.mark.parametrize("path", ["batches", "vending-keys"])
def test_a_stations_signed_deeply_nested_body_is_refused_not_a_500(path: str) -> None:
    """Low (the enrolment probe above, for an enrolled station's signed requests): the master
    answers 500 with a traceback instead of its signed STATION_AUTH_FAILED refusal. The
    terminal and mobile-money gateways already catch RecursionError; the station API does
    not."""
    from tests.stations.station_world import signed_headers

    st = offline_station(build_world())
    url = f"/station-api/v1/{path}"
    headers = signed_headers(st.key.seed, st.station.code, url, DEEP_BODY)
    response = Client(raise_request_exception=False).post(
        url, DEEP_BODY, content_type="application/json", headers=headers
    )
    assert response.status_code < 500
    assert json.loads(response.content)["error"]["code"] == "STATION_AUTH_FAILED"


def test_a_station_whose_enrolment_answer_was_lost_can_still_be_enrolled(
    scene: Scene, live_server: Any
) -> None:
    """Medium (careless user / bad link). ``gridvend station init`` reaches the master, which
    enrols the station (ACTIVE, the code used, the new public key kept), and the answer never
    arrives: the link cut, the command killed, or the station's disk full while it keeps its
    key. Run again (what anyone does), the same code is refused ("the station is active");
    a new code is refused too (``reissue_enrolment_code``: a selling station never gets one
    once enrolled, even with an empty journal). The only way out is to revoke the station and
    register another under a new code, lane and name. Expected: an enrolled station whose
    journal is empty can take a new code (or the same code again, within its validity)."""
    from gridvend.kernel.errors import DomainError
    from gridvend.stations.services import enrolment
    from gridvend.stations.services.registration import (
        register_station,
        reissue_enrolment_code,
    )

    world = scene.world
    world.add_meter(unit=world.tree.north_sc)
    station, code = register_station(
        actor=scene.manager,
        code="kitale-st1",
        name="Kitale station",
        org_unit=world.tree.north_sc,
        vending_point=scene.point,
    )
    # The master's side of the first try; its answer is lost with the key it was made for.
    enrolment.enrol_station(
        code=station.code,
        enrol_code=code,
        public_key=protocol.new_key_pair().public_hex,
        app_version="17.0",
        exchange_key=enrolment.exchange_public_hex(enrolment.new_exchange_key()),
    )
    url = live_server.url
    try:
        station_init.init_station(
            master_url=url, station_code=station.code, enrol_code=code, app_version="17.0"
        )
    except StationEnrolFailed:
        try:
            _again, fresh = reissue_enrolment_code(
                actor=scene.manager,
                station=station,
            )
        except DomainError:
            pass
        else:
            station_init.init_station(
                master_url=url, station_code=station.code, enrol_code=fresh, app_version="17.0"
            )
    assert LocalStation.objects.filter(code=station.code).exists()
