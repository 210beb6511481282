"""Station -> business-unit relay -> master as real processes on loopback: the relay keeps what
its stations upload while its own link to the master is cut (a crash of the relay loses
nothing), and forwards it when the link returns; the master applies each batch once, however
often it is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, Refused
from tests.stations.chain import kept, needs, relay_chain
from tests.stations.processes import Harness, Install
from tests.stations.test_relay import batch, journal

pytestmark = [pytest.mark.long]


def test_the_relay_keeps_uploads_while_its_link_up_is_cut_and_survives_a_crash(
    processes: Harness,
) -> None:
    chain = relay_chain(processes)
    station = chain.station_client()
    entries = journal(chain.child_key, 6)
    chain.up.cut()
    answers = [
        station.post("batches", batch(entries[i : i + 2], f"b-{i // 2 + 1}")) for i in (0, 2, 4)
    ]
    assert [a["status"] for a in answers] == ["stored"] * 3
    assert answers[-1]["last_seq"] == 6 and answers[-1]["last_hash"] == entries[-1].entry_hash
    # Sent again (the station did not hear the answer): the same acknowledgement, kept once.
    assert station.post("batches", batch(entries[2:4], "b-2")) == answers[1]
    # A tampered batch is refused by the relay, signed, with its reason.
    more = journal(chain.child_key, 2, start=7, prev=entries[-1].entry_hash)
    altered = batch(more, "b-4")
    altered["entries"][1]["body"] = altered["entries"][1]["body"].replace("10000", "1")
    with pytest.raises(Refused) as refused:
        station.post("batches", altered)
    assert refused.value.code == "STATION_RELAY_REJECTED"
    # The relay tries to forward: the link is down, nothing is marked.
    assert chain.forward()["link"] == "down"
    # The relay crashes and comes back: everything is still there, nothing forwarded.
    chain.relay.kill()
    with pytest.raises(LinkDown):
        station.post("batches", batch(more, "b-4"))
    chain.relay.serve()
    kept = chain.kept(chain.relay)
    assert kept["seqs"] == [1, 2, 3, 4, 5, 6]
    assert [b[:5] for b in kept["batches"]] == [
        ["b-1", "stored", 1, 2, False],
        ["b-2", "stored", 3, 4, False],
        ["b-3", "stored", 5, 6, False],
    ]
    # The station's next batch continues the chain the relay holds.
    assert station.post("batches", batch(more, "b-4"))["last_seq"] == 8


def test_a_station_only_talks_to_the_relay_it_trusts(processes: Harness) -> None:
    chain = relay_chain(processes)
    # Answers signed by the relay's key, not the master's: a station that expects the master's
    # key (or any other) reads the relay's answer as a link that is down.
    # (The upload itself was genuine, so the relay kept it; the station will send it again and
    # be answered alike.)
    entries = journal(chain.child_key, 2)
    wrong = chain.station_client()
    wrong.master_public_hex = chain.master_public
    with pytest.raises(LinkDown):
        wrong.post("batches", batch(entries[:1], "b-1"))
    assert chain.station_client().post("batches", batch(entries[:1], "b-1"))["last_seq"] == 1
    # Someone with another key, calling as the station, is refused and nothing is kept.
    forger = chain.station_client()
    forger.seed = protocol.new_key_pair().seed
    with pytest.raises(Refused) as refused:
        forger.post("batches", batch(entries[1:], "b-2"))
    assert refused.value.code == "STATION_AUTH_FAILED"
    assert chain.kept(chain.relay)["seqs"] == [1]


# --- The whole chain: enrolled installs, real sales, the relay's link up cut -----------------

STATION_CODE = "HARNESSSTATIONCODE2345ABCD"  # as registration makes them: 26 base32 characters
RELAY_CODE = "HARNESSRELAYCODE234567ABCD"


def _call(install: Install, call: str, **kwargs: Any) -> Any:
    return install.python(
        f"from tests.stations import scenes\nresult = scenes.{call}(**{json.dumps(kwargs)})"
    )


def _journal(install: Install) -> dict[str, Any]:
    result: dict[str, Any] = install.python(
        "from gridvend.stations.models import LocalEntry\n"
        "rows = LocalEntry.objects.order_by('seq')\n"
        "result = {'seqs': [e.seq for e in rows],"
        " 'unsent': [e.seq for e in rows if e.uploaded_at is None]}\n"
    )
    return result


@needs(
    "gridvend.stations.services.journal",
    "gridvend.stations.services.upload",
    "gridvend.stations.services.sync",
    "gridvend.stations.services.pull",
)
def test_forwarded_batches_reach_the_master_once_when_the_link_returns(
    processes: Harness,
) -> None:
    # The master registers relay bu-relay (business unit) and station bu-st1 below it.
    master = processes.install("master", postgres=True)
    world = _call(
        master,
        "master_world",
        station="bu-st1",
        enrol_code=STATION_CODE,
        relay="bu-relay",
        relay_enrol_code=RELAY_CODE,
    )
    _call(
        master,
        "issue_allowance",
        station="bu-st1",
        ceiling_minor=10_000_000,
        currency=world["currency"],
    )
    master.serve()
    up = processes.link(master)
    # The relay enrols and serves; the station enrols with the master and talks to the relay.
    relay = processes.install("relay")
    relay.gridvend(
        "station", "init", "--master", up.url, "--station", "bu-relay", "--enrol-code", RELAY_CODE
    )
    relay.serve()
    down = processes.link(relay)
    station = processes.install("station")
    station.gridvend(
        "station",
        "init",
        "--master",
        up.url,
        "--via",
        down.url,
        "--station",
        "bu-st1",
        "--enrol-code",
        STATION_CODE,
    )
    # The relay pulls its unit and the station's row (its key, the master's allowance); the
    # station pulls from the relay's copy: it can sell.
    relay.gridvend("station", "sync")
    station.gridvend("station", "sync")
    assert station.python(
        "from gridvend.stations.models import LocalStation, LocalAllowance\n"
        "me = LocalStation.objects.get()\n"
        "result = [me.master_url, LocalAllowance.objects.count(), me.last_sync_at is not None]\n"
    ) == [down.url, 1, True]
    meter_a, meter_b = world["meters"]
    # The relay's link to the master is cut; the station sells and uploads to the relay.
    up.cut()
    offline = [
        _call(
            station,
            "sell",
            meter=meter,
            tender_major="500",
            currency=world["currency"],
            username=world["cashier"],
            client_reference=f"st-{n}",
        )
        for n, meter in enumerate([meter_a, meter_b, meter_a], start=1)
    ]
    # The master sells to the same meter meanwhile (in its own TID lane).
    _call(
        master,
        "sell",
        meter=meter_a,
        tender_major="500",
        currency=world["currency"],
        username=world["cashier"],
        client_reference="dc-1",
        point=world["point"],
    )
    station.gridvend("station", "sync")
    assert _journal(station)["unsent"] == []  # the relay acknowledged (stored) every entry
    on_relay = kept(relay, "bu-st1")
    assert on_relay["seqs"] == _journal(station)["seqs"]
    assert all(b[1] == "stored" and not b[4] for b in on_relay["batches"])
    # The relay cannot reach the master: it keeps everything (its sync fails and backs off).
    assert relay.gridvend("station", "sync", check=False).returncode != 0
    assert kept(master, "bu-st1")["seqs"] == []
    # The link returns, but the master's answers to the forwards are lost on the way: the
    # master applies, the relay hears nothing and marks nothing.
    up.restore()
    up.hold_answers(to=b"POST /station-api/v1/batches/forward")
    lost = relay.gridvend("station", "sync", "--force", check=False, timeout=300)
    assert lost.returncode != 0
    assert kept(master, "bu-st1")["seqs"] == _journal(station)["seqs"]
    assert not any(b[4] for b in kept(relay, "bu-st1")["batches"])
    up.release()
    # The next cycle sends the same batches again: answered alike, applied once, marked.
    relay.gridvend("station", "sync", "--force")
    on_master = kept(master, "bu-st1")
    assert on_master["seqs"] == _journal(station)["seqs"]
    assert {(b[1], b[5]) for b in on_master["batches"]} == {("applied", "bu-relay")}
    assert all(b[4] for b in kept(relay, "bu-st1")["batches"])
    # Every sale once in the master's books, under the station's own references; every token
    # (the station's and the master's) accepted by its meter.
    refs = [sale["reference"] for sale in offline]
    books = _call(master, "ledger_of", client_references=refs)
    assert books["sales"] == [[ref, 50_000] for ref in refs]
    assert sorted(books["tokens"]) == sorted(t[0] for sale in offline for t in sale["tokens"])
    assert len(books["tokens"]) == len(set(books["tokens"]))
    accepted = _call(master, "tokens_accepted", key_hex=world["key_hex"], meters=world["meters"])
    assert accepted == {"refused": []}
    # Lost acknowledgements again: the relay forgets it forwarded and sends all again.
    relay.python(
        "from gridvend.stations.models import StationBatch\n"
        "result = StationBatch.objects.update(forwarded_at=None)\n"
    )
    relay.gridvend("station", "sync", "--force")
    assert kept(master, "bu-st1") == on_master
    assert _call(master, "ledger_of", client_references=refs) == books
    # The station hears from the relay that the master holds its journal: a new sync is clean.
    station.gridvend("station", "sync")
    assert _journal(station)["unsent"] == []
