"""The sync cycle's lock and back-off recover by themselves: a sync run by hand after a failure
goes at once (no ``--force``), a cycle killed while it held the lock (a real process, killed
with SIGKILL) holds nothing off, a lease an older release left in ``next_attempt_at`` is
ignored, and a cycle that is really running still keeps a second one out (forced or not)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from gridvend.stations.models import LocalEntry, LocalStation
from gridvend.stations.services.sync import (
    BUSY,
    SYNC_LOCK_KEY,
    run_sync_cycle,
    sync_lock,
    sync_lock_path,
)
from tests.stations.master_double import MasterDouble
from tests.stations.station_world import (
    journal_shifts,
    station_mode_forgotten,
)

# Down-sync is tested on its own (test_pull): here one signed ``GET changes`` stands in.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("pull_stand_in")]


@pytest.fixture(autouse=True)
def _station_mode() -> Iterator[None]:
    with station_mode_forgotten():
        yield


def _uploaded() -> int:
    return LocalEntry.objects.filter(uploaded_at__isnull=False).count()


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_a_sync_by_hand_after_a_failure_runs_at_once_without_force(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(2)
    LocalStation.objects.filter(pk=1).update(master_url=_closed_port())
    failed = run_sync_cycle()
    assert failed.ran and not failed.ok and failed.failures == 1
    LocalStation.objects.filter(pk=1).update(master_url=master_url)
    # The minute's job keeps backing off ...
    assert run_sync_cycle().skipped == "backing off"
    # ... while the operator who typed the command gets the sync now.
    out = StringIO()
    call_command("station", "sync", stdout=out)
    assert "uploaded 2 entries in 1 batches, 0 pending" in out.getvalue()
    station = LocalStation.objects.get(pk=1)
    assert station.failures == 0 and station.next_attempt_at is None and _uploaded() == 2


def test_a_lease_left_by_an_older_release_does_not_hold_the_job_off(
    master_double: MasterDouble, master_url: str
) -> None:
    # What a cycle of the previous release wrote before it was killed: a ten-minute lease.
    LocalStation.objects.filter(pk=1).update(
        failures=0, next_attempt_at=timezone.now() + timedelta(minutes=10)
    )
    journal_shifts(1)
    result = run_sync_cycle()
    assert result.ok, result.failure
    assert _uploaded() == 1


def _hold_in_thread(started: threading.Event, release: threading.Event) -> threading.Thread:
    def hold() -> None:
        try:
            with sync_lock() as taken:
                assert taken
                started.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(30)
    return thread


def test_a_running_cycle_keeps_a_second_one_out_even_forced(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(1)
    started, release = threading.Event(), threading.Event()
    thread = _hold_in_thread(started, release)
    try:
        for force in (False, True):
            busy = run_sync_cycle(force=force)
            assert not busy.ran and busy.skipped == BUSY
        out = StringIO()
        call_command("station", "sync", stdout=out)
        assert "nothing done: another sync cycle is running" in out.getvalue()
        assert _uploaded() == 0 and master_double.received == []
        # Being kept out is no failure: nothing backs off.
        assert LocalStation.objects.get(pk=1).failures == 0
    finally:
        release.set()
        thread.join(30)
    assert run_sync_cycle().ok and _uploaded() == 1


_HOLD_FILE = """
import fcntl, os, sys, time
handle = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""

_HOLD_ADVISORY = """
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
conn.execute("SELECT pg_advisory_lock(%s)", [int(sys.argv[2])])
print("held", flush=True)
time.sleep(120)
"""


def _holder() -> subprocess.Popen[str]:
    """Another process that takes the station's sync lock, as a running cycle does."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        dsn = (
            f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} dbname={s['NAME']} "
            f"user={s['USER']} password={s['PASSWORD'] or ''}"
        )
        args = ["-c", _HOLD_ADVISORY, dsn, str(SYNC_LOCK_KEY)]
    else:
        args = ["-c", _HOLD_FILE, sync_lock_path()]
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_cycle_killed_while_it_held_the_lock_holds_nothing_off(
    master_double: MasterDouble, master_url: str
) -> None:
    journal_shifts(3)
    holder = _holder()
    try:
        assert run_sync_cycle(force=True).skipped == BUSY
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
    # The lock went with the process (the database notices its connection closed a moment
    # later): the very next cycle runs, without --force and without waiting for a lease.
    deadline = time.monotonic() + 20
    result = run_sync_cycle()
    while not result.ran and time.monotonic() < deadline:
        time.sleep(0.2)
        result = run_sync_cycle()
    assert result.ok, (result.skipped, result.failure)
    assert _uploaded() == 3
