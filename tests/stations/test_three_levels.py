"""Station -> business-unit relay -> master as real processes on loopback: the relay keeps what
its stations upload while its own link to the master is cut (a crash of the relay loses
nothing), and forwards it when the link returns; the master applies each batch once, however
often it is sent."""

from __future__ import annotations

import pytest

from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, Refused
from tests.stations.chain import needs, relay_chain
from tests.stations.processes import Harness
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


@needs("gridvend.stations.services.journal")
def test_forwarded_batches_reach_the_master_once_when_the_link_returns(
    processes: Harness,
) -> None:
    chain = relay_chain(processes)
    station = chain.station_client()
    entries = journal(chain.child_key, 4)
    chain.up.cut()
    station.post("batches", batch(entries[:2], "b-1"))
    station.post("batches", batch(entries[2:], "b-2"))
    assert chain.forward()["link"] == "down"
    chain.up.restore()
    # The master's answers reach the relay only after the master applied: held back, the relay
    # hears nothing and marks nothing; sent again, the master answers alike and applies once.
    chain.up.hold_answers()
    chain.up.cut()
    chain.up.restore()
    chain.up.release()
    done = chain.forward()
    assert done == {"link": "up", "forwarded": 2, "entries": 4, "refused": []}
    master = chain.kept(chain.master)
    assert master["seqs"] == [1, 2, 3, 4]
    assert [b[0:2] + b[5:] for b in master["batches"]] == [
        ["b-1", "applied", "bu-relay"],
        ["b-2", "applied", "bu-relay"],
    ]
    assert all(b[4] for b in chain.kept(chain.relay)["batches"])
    # Lost acknowledgements: the relay forgets it forwarded and sends both again.
    chain.relay.python(
        "from gridvend.stations.models import StationBatch\n"
        "result = StationBatch.objects.update(forwarded_at=None)\n"
    )
    assert chain.forward()["forwarded"] == 2
    assert chain.kept(chain.master) == master
