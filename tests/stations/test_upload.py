"""The station's upload and sync cycle against a master on a real loopback HTTP server (a test
double of the master's signed answers, see master_double.py): batches oldest first with
deterministic ids, rows marked only after the signed acknowledgement, a batch whose answer was
lost sent again with the same id and applied once, refusals kept for the operator, a link that
is down backed off 1, 2, 4 ... minutes up to 30."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.jobs import queue
from gridvend.stations import local
from gridvend.stations.client import MasterClient
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalAllowance, LocalEntry, LocalStation
from gridvend.stations.services.sync import backoff, run_sync_cycle
from gridvend.stations.services.upload import _next_batch, upload_pending
from gridvend.stations.tasks import SYNC_JOB, SYNC_SCHEDULE, sync_station
from tests.stations.master_double import MasterDouble
from tests.stations.station_world import (
    CODE,
    StationSetUp,
    journal_shifts,
    station_mode_forgotten,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


def _client() -> MasterClient:
    return local.client(LocalStation.objects.get(pk=1))


def _uploaded() -> list[int]:
    return list(LocalEntry.objects.filter(uploaded_at__isnull=False).values_list("seq", flat=True))


def test_entries_go_oldest_first_in_batches_named_by_their_first_and_last_seq(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(7)
    result = upload_pending(_client(), batch_size=3)
    assert result.ok and (result.batches, result.entries, result.pending) == (3, 7, 0)
    assert master_double.received == [f"{CODE}:1-3", f"{CODE}:4-6", f"{CODE}:7-7"]
    assert [e.seq for e in master_double.applied] == list(range(1, 8))
    assert _uploaded() == list(range(1, 8))
    assert LocalStation.objects.get().last_upload_at is not None
    # Nothing left: nothing is sent.
    assert upload_pending(_client()).batches == 0
    assert len(master_double.received) == 3


def test_an_answer_lost_mid_upload_sends_the_same_batch_again_applied_once(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(4)
    master_double.mode = "drop"  # the master applies the batch, then the link breaks
    first = upload_pending(_client(), batch_size=10)
    assert first.link_down and first.entries == 0
    assert _uploaded() == []  # no acknowledgement: nothing marked
    assert [e.seq for e in master_double.applied] == [1, 2, 3, 4]
    # The station sells on meanwhile; the lost batch goes again exactly as it was.
    journal_shifts(2)
    master_double.mode = "ok"
    again = upload_pending(_client(), batch_size=10)
    assert again.ok and again.entries == 6
    assert master_double.received == [f"{CODE}:1-4", f"{CODE}:1-4", f"{CODE}:5-6"]
    assert [e.seq for e in master_double.applied] == [1, 2, 3, 4, 5, 6]  # each once
    assert _uploaded() == [1, 2, 3, 4, 5, 6]


def test_a_station_killed_after_naming_a_batch_sends_it_again_by_the_same_id(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(3)
    # The station names the batch (committed) and dies before the request leaves.
    station = LocalStation.objects.get()
    named = _next_batch(station, 500)
    assert {r.batch_id for r in named} == {f"{CODE}:1-3"}
    journal_shifts(2)
    result = upload_pending(_client(), batch_size=500)
    assert result.ok
    assert master_double.received == [f"{CODE}:1-3", f"{CODE}:4-5"]
    assert [e.seq for e in master_double.applied] == [1, 2, 3, 4, 5]


def test_a_refusal_stops_the_upload_and_is_kept_for_the_operator(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(5)
    master_double.mode = "refuse"
    result = upload_pending(_client(), batch_size=2)
    assert result.refused_code == "STATION_JOURNAL_REJECTED"
    assert master_double.received == [f"{CODE}:1-2"]  # stopped at the first refusal
    assert _uploaded() == []
    station = LocalStation.objects.get()
    assert station.upload_refusal_code == "STATION_JOURNAL_REJECTED"
    assert AuditEvent.objects.filter(event_type=StationEvent.UPLOAD_REFUSED).count() == 1
    out = StringIO()
    call_command("station", "status", stdout=out)
    assert "UPLOAD REFUSED by the master: STATION_JOURNAL_REJECTED" in out.getvalue()
    # Once the master takes it, the refusal is cleared.
    master_double.mode = "ok"
    assert upload_pending(_client(), batch_size=2).ok
    assert LocalStation.objects.get().upload_refusal_code == ""


def test_an_answer_not_signed_by_the_master_marks_nothing(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(2)
    master_double.mode = "unsigned"
    result = upload_pending(_client())
    assert result.link_down and "not signed" in result.link_down
    assert _uploaded() == []


def test_an_acknowledgement_of_another_journal_marks_nothing(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(2)
    # The master's idea of this station's journal is not this journal (a restored disk, say).
    master_double.answers[f"{CODE}:1-2"] = {
        "status": "applied",
        "batch_id": f"{CODE}:1-2",
        "last_seq": 2,
        "last_hash": "f" * 64,
        "conflicts": [],
    }
    result = upload_pending(_client())
    assert result.refused_code == "ACKNOWLEDGEMENT_MISMATCH"
    assert _uploaded() == []


def test_a_cycle_takes_status_and_a_newer_allowance_uploads_then_pulls(
    station_setup: StationSetUp,
    master_double: MasterDouble,
    master_url: str,
    pull_stand_in: list[MasterClient],
) -> None:
    now = timezone.now()
    station_setup.give_allowance(sequence=1, ceiling_minor=10_000, around=now)
    master_double.allowance = station_setup.allowance(
        sequence=2,
        ceiling_minor=90_000,
        valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(days=1),
    )
    journal_shifts(3)
    result = run_sync_cycle()
    assert result.ok, result.failure
    assert result.status == "active" and result.allowance_accepted == 2
    assert result.upload is not None and result.upload.entries == 3
    assert len(pull_stand_in) == 1 and master_double.changes_calls == 1
    assert list(LocalAllowance.objects.values_list("sequence", flat=True)) == [2, 1]
    station = LocalStation.objects.get()
    assert station.failures == 0 and station.next_attempt_at is None
    assert station.last_contact_at is not None
    # The same allowance again is no news; the master's answer acknowledges what it holds.
    again = run_sync_cycle()
    assert again.ok and again.allowance_accepted is None
    # A master that applied a batch whose answer was lost acknowledges it through its status.
    journal_shifts(1)
    master_double.mode = "drop"
    assert not run_sync_cycle(force=True).ok
    master_double.mode = "ok"
    assert run_sync_cycle(force=True).upload.batches == 0  # type: ignore[union-attr]
    assert _uploaded() == [1, 2, 3, 4]


def test_a_suspended_station_still_uploads_and_a_revoked_one_sends_nothing(
    master_double: MasterDouble, master_url: str, pull_stand_in: list[MasterClient]
) -> None:
    # (A suspended or revoked station's sales are refused: test_offline_selling.)
    journal_shifts(2)
    master_double.status = "suspended"
    result = run_sync_cycle()
    assert result.ok and result.status == "suspended"
    assert LocalStation.objects.get().status == "suspended"
    assert _uploaded() == [1, 2]  # what it sold before is still the master's to apply
    journal_shifts(1)
    master_double.status = "revoked"
    result = run_sync_cycle(force=True)
    assert result.status == "revoked" and result.upload is None
    assert LocalStation.objects.get().status == "revoked"
    assert _uploaded() == [1, 2] and len(pull_stand_in) == 1


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_a_link_that_is_down_backs_off_one_two_four_up_to_thirty_minutes(
    station_setup: StationSetUp, pull_stand_in: list[MasterClient]
) -> None:
    LocalStation.objects.filter(pk=1).update(master_url=_closed_port())
    journal_shifts(1)
    now = timezone.now()
    waits = []
    for _ in range(7):
        result = run_sync_cycle(now)
        assert result.ran and not result.ok and "LinkDown" in result.failure
        assert result.next_attempt_at is not None
        waits.append(result.next_attempt_at - now)
        # Before the next attempt is due a cycle does nothing, unless forced.
        early = run_sync_cycle(result.next_attempt_at - timedelta(seconds=1))
        assert not early.ran and early.skipped == "backing off"
        now = result.next_attempt_at
    assert [int(w.total_seconds() // 60) for w in waits] == [1, 2, 4, 8, 16, 30, 30]
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    station = LocalStation.objects.get()
    assert station.failures == 7 and "LinkDown" in station.last_failure
    assert pull_stand_in == [] and _uploaded() == []
    out = StringIO()
    call_command("station", "status", stdout=out)
    assert "7 failures in a row" in out.getvalue()
    with pytest.raises(CommandError, match="sync failed"):
        call_command("station", "sync", "--force", stdout=StringIO())
    assert LocalStation.objects.get().failures == 8


def test_the_command_syncs_now_and_the_master_is_no_station(
    master_double: MasterDouble, master_url: str, pull_stand_in: list[MasterClient]
) -> None:
    journal_shifts(2)
    out = StringIO()
    call_command("station", "sync", stdout=out)
    assert "uploaded 2 entries in 1 batches, 0 pending" in out.getvalue()
    LocalStation.objects.all().delete()
    assert run_sync_cycle().skipped == "not a station"
    with pytest.raises(CommandError, match="not a station"):
        call_command("station", "status", stdout=StringIO())


def test_the_minute_job_syncs_a_station_and_does_nothing_on_the_master(
    master_double: MasterDouble, master_url: str, pull_stand_in: list[MasterClient]
) -> None:
    assert queue.declared_schedules()[SYNC_SCHEDULE] == (SYNC_JOB, "* * * * *")
    journal_shifts(1)
    assert sync_station()["upload"]["entries"] == 1
    LocalStation.objects.all().delete()
    assert sync_station() == {"station": False}
