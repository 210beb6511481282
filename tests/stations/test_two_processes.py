"""A master and a station as two real processes on loopback, joined by a link the test cuts:
the station sells while the link is down and uploads when it returns; every sale is in the
master's books exactly once, even when the station is killed mid-upload or a batch is sent
twice, and every token is accepted by its meter, the master's own sales to it meanwhile too."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, MasterClient, Refused
from tests.stations.chain import needs
from tests.stations.processes import REPO, Harness, Install

pytestmark = [pytest.mark.long]

# A code as registration makes them (26 characters of base32).
ENROL_CODE = "HARNESSENROLCODE7D2F3C4B5E"


def _call(install: Install, call: str, **kwargs: Any) -> Any:
    return install.python(
        f"from tests.stations import scenes\nresult = scenes.{call}(**{json.dumps(kwargs)})"
    )


def test_the_link_is_cut_and_restored_and_a_dead_master_reads_as_a_cut_link(
    processes: Harness,
) -> None:
    master = processes.install("master", postgres=True)
    master_public = _call(master, "signing_public")
    master.serve()
    link = processes.link(master)
    someone = protocol.new_key_pair()
    client = MasterClient(
        base_url=link.url,
        station="nobody",
        seed=someone.seed,
        master_public_hex=master_public,
        timeout=10,
    )
    body = {"batch_id": "b-1", "entries": []}

    def refused_code() -> str:
        with pytest.raises(Refused) as refused:
            client.post("batches", body)
        return refused.value.code

    # Up: the master's signed refusal (an unknown station) comes back through the link.
    assert refused_code() == "STATION_UNKNOWN"
    link.cut()
    with pytest.raises(LinkDown):
        client.post("batches", body)
    link.restore()
    assert refused_code() == "STATION_UNKNOWN"
    # The master's answers held on the way: the client gives up on its timeout, a link down.
    link.hold_answers()
    client.timeout = 2
    with pytest.raises(LinkDown):
        client.post("batches", body)
    link.release()
    client.timeout = 10
    # The master dies: the link is down; it comes back on the same port: up again.
    master.kill()
    with pytest.raises(LinkDown):
        client.post("batches", body)
    master.serve()
    assert refused_code() == "STATION_UNKNOWN"
    # An answer signed by another key than the master's is a link that is down too.
    client.master_public_hex = someone.public_hex
    with pytest.raises(LinkDown):
        client.post("batches", body)


# --- Master and station, the whole of issue 17 ------------------------------------------------


def _station(processes: Harness) -> tuple[Install, Install, Any, dict[str, Any]]:
    master = processes.install("master", postgres=True)
    world = _call(master, "master_world", station="sc-st1", enrol_code=ENROL_CODE)
    _call(
        master,
        "issue_allowance",
        station="sc-st1",
        ceiling_minor=10_000_000,
        currency=world["currency"],
    )
    master.serve()
    link = processes.link(master)
    station = processes.install("station")
    station.gridvend(
        "station", "init", "--master", link.url, "--station", "sc-st1", "--enrol-code", ENROL_CODE
    )
    station.gridvend("station", "sync")
    return master, station, link, world


def _sell(install: Install, world: dict[str, Any], meter: str, ref: str, point: bool) -> Any:
    kwargs: dict[str, Any] = {
        "meter": meter,
        "tender_major": "500",
        "currency": world["currency"],
        "username": world["cashier"],
        "client_reference": ref,
    }
    if point:
        kwargs["point"] = world["point"]
    return _call(install, "sell", **kwargs)


def _journal(station: Install) -> dict[str, Any]:
    result: dict[str, Any] = station.python(
        "from gridvend.stations.models import LocalEntry\n"
        "rows = LocalEntry.objects.order_by('seq')\n"
        "result = {'seqs': [e.seq for e in rows],"
        " 'unsent': [e.seq for e in rows if e.uploaded_at is None],"
        " 'batches': sorted({e.batch_id for e in rows if e.batch_id})}\n"
    )
    return result


def _master_entries(master: Install, code: str) -> list[int]:
    result: list[int] = master.python(
        "from gridvend.stations.models import StationEntry\n"
        f"result = list(StationEntry.objects.filter(station__code={code!r})"
        ".order_by('seq').values_list('seq', flat=True))\n"
    )
    return result


@needs(
    "gridvend.stations.services.journal",
    "gridvend.stations.services.upload",
    "gridvend.stations.services.sync",
    "gridvend.stations.services.pull",
)
def test_sales_made_while_the_link_is_cut_reach_the_master_once(processes: Harness) -> None:
    master, station, link, world = _station(processes)
    meter_a, meter_b = world["meters"]
    link.cut()
    offline = [
        _sell(station, world, meter_a, "st-1", point=False),
        _sell(station, world, meter_b, "st-2", point=False),
        _sell(station, world, meter_a, "st-3", point=False),
    ]
    # The master sells to the same meter during the outage (its own TID lane).
    _sell(master, world, meter_a, "dc-1", point=True)
    # The link is down: a sync now uploads nothing (it reports the link down and backs off).
    station.gridvend("station", "sync", check=False)
    assert _master_entries(master, "sc-st1") == []
    link.restore()
    station.gridvend("station", "sync", "--force")
    # The master records a station's sale under the station's own sale reference.
    refs = [s["reference"] for s in offline]
    books = _call(master, "ledger_of", client_references=refs)
    assert books["sales"] == [[ref, 50_000] for ref in refs]
    assert len(books["tokens"]) == len(set(books["tokens"]))
    assert sorted(books["tokens"]) == sorted(t[0] for s in offline for t in s["tokens"])
    assert _journal(station)["unsent"] == []
    assert _master_entries(master, "sc-st1") == _journal(station)["seqs"]
    # Every token, offline and the master's, is accepted by its meter.
    accepted = _call(master, "tokens_accepted", key_hex=world["key_hex"], meters=world["meters"])
    assert accepted == {"refused": []}
    # Syncing again changes nothing.
    station.gridvend("station", "sync")
    assert _call(master, "ledger_of", client_references=refs) == books


@needs(
    "gridvend.stations.services.journal",
    "gridvend.stations.services.upload",
    "gridvend.stations.services.sync",
    "gridvend.stations.services.pull",
)
def test_a_station_killed_mid_upload_loses_and_doubles_nothing(processes: Harness) -> None:
    master, station, link, world = _station(processes)
    meter_a, _ = world["meters"]
    link.cut()
    offline = [_sell(station, world, meter_a, f"st-{n}", point=False) for n in range(1, 5)]
    refs = [s["reference"] for s in offline]
    link.restore()
    # The master applies the upload, but its answer never reaches the station, which dies
    # (the status call before it is answered: the cycle gets as far as the upload).
    link.hold_answers(to=b"POST /station-api/v1/batches")
    sync = subprocess.Popen(
        [sys.executable, "-m", "gridvend", "station", "sync"],
        env=station.env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _master_entries(master, "sc-st1") and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        sync.kill()
        sync.wait(timeout=30)
    link.release()
    applied_before = _master_entries(master, "sc-st1")
    assert applied_before, "the master never received the upload"
    assert _journal(station)["unsent"] != []  # the station never heard the acknowledgement
    # Restarted (no --force: the killed cycle's sync lock went with its process, and a sync
    # run by hand does not wait for the back-off), it learns from the master's status how far
    # its journal was applied, sends what is left, and nothing is applied twice.
    station.gridvend("station", "sync")
    books = _call(master, "ledger_of", client_references=refs)
    assert [s[0] for s in books["sales"]] == refs
    assert len(books["tokens"]) == len(set(books["tokens"]))
    assert sorted(books["tokens"]) == sorted(t[0] for s in offline for t in s["tokens"])
    assert _master_entries(master, "sc-st1") == _journal(station)["seqs"]
    assert _journal(station)["unsent"] == []


@needs(
    "gridvend.stations.services.journal",
    "gridvend.stations.services.upload",
    "gridvend.stations.services.sync",
    "gridvend.stations.services.pull",
)
def test_the_same_batch_uploaded_twice_is_applied_once(processes: Harness) -> None:
    master, station, link, world = _station(processes)
    link.cut()
    refs = [
        _sell(station, world, world["meters"][0], "st-1", point=False)["reference"],
        _sell(station, world, world["meters"][1], "st-2", point=False)["reference"],
    ]
    link.restore()
    station.gridvend("station", "sync")
    books = _call(master, "ledger_of", client_references=refs)
    # The station sends its acknowledged batch again, byte for byte.
    again = station.python(
        "from gridvend.stations import local\n"
        "from gridvend.stations.models import LocalEntry\n"
        "first = LocalEntry.objects.order_by('seq').first()\n"
        "rows = LocalEntry.objects.filter(batch_id=first.batch_id).order_by('seq')\n"
        "body = {'batch_id': first.batch_id, 'entries': [{'body': e.body, 'hash': e.entry_hash,"
        " 'signature': e.signature} for e in rows], 'unsynced_since': None}\n"
        "result = local.client().post('batches', body)\n"
    )
    assert again["status"] == "applied"
    assert _call(master, "ledger_of", client_references=refs) == books
    assert [s[0] for s in books["sales"]] == refs
