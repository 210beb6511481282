"""The station's sync cycle (docs/stations.md, Upload and the sync cycle), always in this
order: ``GET status`` (store the master's word on this station; take a newer allowance;
acknowledge what the master already holds), upload every entry not yet acknowledged (on a relay:
forward what its stations uploaded, ``relay.forward_pending``), then pull the master's
changes. Upload comes before pull, so the master has applied this station's sales (debts
recovered, TIDs used) before the station takes the master's rows back.

A cycle that fails (a link down, a refusal) backs off: 1, 2, 4 ... minutes, at most 30; the
minute's job does nothing before ``next_attempt_at``, while a cycle run by hand (``gridvend
station sync``, ``force``) goes at once. Whatever started it, a cycle runs only while it holds
the station's sync lock, which the operating system or the database lets go of when the process
that held it ends, however it ends: a second cycle beside a running one is refused, and a cycle
killed half-way leaves nothing that holds the next one off.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from gridvend.stations import local, protocol
from gridvend.stations.client import LinkDown, MasterClient, Refused
from gridvend.stations.models import LocalAllowance, LocalStation, StationRole, StationStatus
from gridvend.stations.services.local_allowances import AllowanceRefused, accept_allowance
from gridvend.stations.services.relay import ForwardResult, forward_pending
from gridvend.stations.services.upload import (
    AcknowledgementMismatch,
    UploadResult,
    acknowledge,
    rewind,
    upload_pending,
)
from gridvend.stations.services.vending_keys import fetch_missing_vending_keys

logger = logging.getLogger("gridvend.stations")

BACKOFF_MAX_MINUTES = 30
# The PostgreSQL advisory lock that one running sync cycle holds (a session lock: it goes with
# the cycle's connection, so with its process). SQLite installs lock a file beside the database.
SYNC_LOCK_KEY = int.from_bytes(hashlib.sha256(b"gridvend.stations.sync").digest()[:8], "big") >> 1
BUSY = "another sync cycle is running"
PULL_MODULE = "gridvend.stations.services.pull"
# forward_pending calls one relay's cycle makes (each sends up to FORWARD_BATCHES_PER_CALL
# batches); what is left goes at the next cycle.
FORWARD_ROUNDS = 50


@dataclass
class CycleResult:
    ran: bool
    skipped: str = ""  # why nothing was done ("not a station", "backing off until ...")
    status: str = ""
    allowance_accepted: int | None = None
    upload: UploadResult | None = None
    # On a relay: what was forwarded for the stations below it (in place of an upload).
    forward: ForwardResult | None = None
    pulled: Any = None
    failure: str = ""
    failures: int = 0
    next_attempt_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ran and not self.failure

    def as_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "skipped": self.skipped,
            "status": self.status,
            "allowance_accepted": self.allowance_accepted,
            "upload": self.upload.as_dict() if self.upload is not None else None,
            "forward": (
                {
                    "batches": self.forward.forwarded,
                    "entries": self.forward.entries,
                    "refused": len(self.forward.refused),
                    "failed": len(self.forward.failed),
                    "more": self.forward.more,
                }
                if self.forward is not None
                else None
            ),
            "pulled": str(self.pulled) if self.pulled is not None else None,
            "failure": self.failure,
            "failures": self.failures,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }


def backoff(failures: int) -> timedelta:
    """1, 2, 4 ... minutes after the 1st, 2nd, 3rd ... failure in a row, at most 30."""
    return timedelta(minutes=min(2 ** max(failures - 1, 0), BACKOFF_MAX_MINUTES))


def sync_lock_path() -> str:
    """The file a SQLite install's cycle locks: beside the database file; for a database in
    memory (tests), one per process and database in the temporary directory."""
    name = str(connection.settings_dict["NAME"])
    if name and not name.startswith("file:") and ":memory:" not in name:
        return f"{name}.sync-lock"
    digest = hashlib.sha256(f"{name}:{os.getpid()}".encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"gridvend-station-sync-{digest}.lock")


@contextmanager
def sync_lock() -> Iterator[bool]:
    """Hold the station's sync lock for the block; yields False (and holds nothing) when another
    cycle holds it. Never a lease with a time-out: the lock ends with the process holding it, so
    a cycle that crashed or was killed holds nothing off, and a live one is never overtaken."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SYNC_LOCK_KEY])
            taken = bool(cursor.fetchone()[0])
        try:
            yield taken
        finally:
            if taken:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])
        return
    handle = os.open(sync_lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def _backing_off(station: LocalStation, now: datetime) -> bool:
    # Only failures back off. A next attempt set without failures is the lease an older
    # release wrote while a cycle ran (a killed one left it): nothing to wait for.
    return (
        station.failures > 0
        and station.next_attempt_at is not None
        and station.next_attempt_at > now
    )


def _take_allowance(station: LocalStation, wire: object, result: CycleResult) -> None:
    """A newer allowance than any taken: accept it (checked and audited there)."""
    if not isinstance(wire, dict):
        return
    try:
        sequence = protocol.loads(str(wire.get("payload", "")))["sequence"]
    except (ValueError, KeyError, TypeError):
        sequence = None
    highest = LocalAllowance.objects.aggregate(m=Max("sequence"))["m"] or 0
    if isinstance(sequence, int) and sequence <= highest:
        return  # the one this station holds (or an older one): nothing to take
    try:
        result.allowance_accepted = accept_allowance(station, wire).sequence
    except AllowanceRefused as refused:
        # Audited by accept_allowance; selling goes on under the allowance already held.
        logger.error("station %s: allowance refused: %s", station.code, refused.reason)
        result.notes.append(f"allowance refused: {refused.reason}")


def _status(station: LocalStation, client: MasterClient, result: CycleResult) -> None:
    try:
        data = client.get("status")
    except Refused as refused:
        # A master that no longer takes this station's calls says why, signed: stop selling.
        said = refused.params.get("status")
        if refused.code == "STATION_NOT_ACTIVE" and said in (
            StationStatus.SUSPENDED,
            StationStatus.REVOKED,
        ):
            LocalStation.objects.filter(pk=1).update(status=said, last_contact_at=timezone.now())
            station.status = str(said)
            result.status = str(said)
        raise
    status = data.get("status")
    if status not in (StationStatus.ACTIVE, StationStatus.SUSPENDED, StationStatus.REVOKED):
        raise LinkDown(f"the master's status answer is not readable: {str(status)[:20]}")
    result.status = str(status)
    LocalStation.objects.filter(pk=1).update(status=status, last_contact_at=timezone.now())
    station.status = str(status)
    if status == StationStatus.ACTIVE:
        _take_allowance(station, data.get("allowance"), result)
    # An upstream behind what it acknowledged (a relay that lost its disk): sent again.
    resent = rewind(data.get("last_seq", 0), data.get("last_hash", ""))
    if resent:
        result.notes.append(f"the upstream lost {resent} acknowledged entries: sent again")
    # What the master already applied (an upload whose answer was lost) is acknowledged here.
    acknowledge(data.get("last_seq", 0), data.get("last_hash", ""))


def _forward(client: MasterClient, result: CycleResult) -> ForwardResult:
    """Every batch kept for the stations below this relay, sent up until none is left (a link
    that goes down raises ``LinkDown``: what was acknowledged stays marked). A batch the next hop
    refused stays kept, audited by ``forward_pending``; its station's later batches wait behind
    it, and the other stations' batches and the pull go on. So does a batch the next hop failed
    on (a 5xx): its station is skipped until the next cycle (tried once per cycle), the others
    are sent, and the pull goes on (a next hop failing on everything fails the pull too, and
    the cycle backs off as for any link down)."""
    total = ForwardResult()
    skipped: set[int] = set()
    for _ in range(FORWARD_ROUNDS):
        done = forward_pending(client, skip=skipped)
        total.forwarded += done.forwarded
        total.entries += done.entries
        total.refused += done.refused
        total.failed += done.failed
        if not done.more:
            break
    else:
        total.more = True
    for code, batch_id, refusal in total.refused:
        result.notes.append(f"batch {batch_id} of station {code} refused upstream: {refusal}")
    for code, batch_id, why in total.failed:
        logger.warning("relay: batch %s of station %s not forwarded: %s", batch_id, code, why)
        result.notes.append(f"batch {batch_id} of station {code} failed upstream: {why}")
    return total


def _pull(client: MasterClient) -> Any:
    # Down-sync is its own module (stations.services.pull); looked up when a cycle pulls.
    return import_module(PULL_MODULE).pull_changes(client)


def run_sync_cycle(
    now: datetime | None = None, *, force: bool = False, client: MasterClient | None = None
) -> CycleResult:
    """One cycle: status, upload, pull; backs off on failure (see the module's docstring).
    ``force`` (a cycle run by hand) does not wait for the back-off; nothing runs beside a cycle
    that is running."""
    now = now or timezone.now()
    station = local.this_station()
    if station is None:
        return CycleResult(ran=False, skipped="not a station")
    if not force and _backing_off(station, now):
        return CycleResult(
            ran=False,
            skipped="backing off",
            failures=station.failures,
            next_attempt_at=station.next_attempt_at,
        )
    with sync_lock() as taken:
        if not taken:
            return CycleResult(ran=False, skipped=BUSY, failures=station.failures)
        # Read again under the lock: the cycle that held it may have changed the row.
        station = local.this_station() or station
        return _run_cycle(station, now, client)


def _run_cycle(station: LocalStation, now: datetime, client: MasterClient | None) -> CycleResult:
    result = CycleResult(ran=True)
    try:
        link = client or local.client(station)
        _status(station, link, result)
        if station.status == StationStatus.REVOKED:
            # A revoked station's journal is no longer taken; it sells nothing more either.
            result.notes.append("revoked: nothing is uploaded or pulled")
        elif station.role == StationRole.RELAY:
            # A relay has no journal of its own: it forwards what its stations uploaded to it,
            # then pulls (its unit, and its stations' rows and allowances).
            result.forward = _forward(link, result)
            result.pulled = _pull(link)
        else:
            result.upload = upload_pending(link)
            if result.upload.link_down:
                raise LinkDown(result.upload.link_down)
            if result.upload.refused_code:
                # Not pulled: the master's rows would not yet hold this station's sales.
                raise Refused(result.upload.refused_code, result.upload.refused_message, 0, {})
            result.pulled = _pull(link)
            # A meter pulled may name a key this station was never sent (a new supply group).
            for key_ref in fetch_missing_vending_keys(link):
                result.notes.append(f"vending key {key_ref} received")
    except (LinkDown, Refused, AcknowledgementMismatch) as failed:
        result.failure = f"{type(failed).__name__}: {failed}"[:255]
    except Exception as unexpected:
        # Whatever an untrusted answer made go wrong (a parser's error not yet turned into a
        # LinkDown), it is a failed cycle: counted, backed off and shown, not a cron job that
        # dies every minute with last_failure empty. The traceback goes to the log.
        logger.exception("station %s: sync cycle failed unexpectedly", station.code)
        result.failure = f"{type(unexpected).__name__}: {unexpected}"[:255]
    _finish(now, result)
    return result


def _finish(now: datetime, result: CycleResult) -> None:
    station = LocalStation.objects.get(pk=1)
    if result.failure:
        failures = station.failures + 1
        result.failures = failures
        result.next_attempt_at = now + backoff(failures)
        logger.warning(
            "station %s: sync failed (%d in a row, next at %s): %s",
            station.code,
            failures,
            result.next_attempt_at.isoformat(),
            result.failure,
        )
        LocalStation.objects.filter(pk=1).update(
            failures=failures, next_attempt_at=result.next_attempt_at, last_failure=result.failure
        )
        return
    LocalStation.objects.filter(pk=1).update(
        failures=0, next_attempt_at=None, last_failure="", last_contact_at=timezone.now()
    )
