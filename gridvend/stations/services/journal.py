"""The master's side of the upload (docs/stations.md, "How the master applies a journal"):
verify a station's batch of journal entries (signatures, chain, sequence), then apply it once,
in one transaction under the station's lock: sales become central sales with the station's own
tokens, shift entries the station's shifts, and what changed on the master meanwhile becomes a
conflict for a supervisor. A batch that fails verification is refused whole, kept as a rejected
batch and raised as the supervisor's alarm; nothing of it is applied."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.models import User
from gridvend.identity.roles import Role
from gridvend.rows import insert_many
from gridvend.stations import protocol
from gridvend.stations.errors import (
    StationBatchInvalid,
    StationBatchReused,
    StationJournalRejected,
    StationNotActive,
)
from gridvend.stations.events import StationEvent
from gridvend.stations.models import (
    BatchStatus,
    Station,
    StationAllowance,
    StationBatch,
    StationConflict,
    StationEntry,
    StationShift,
    StationStatus,
)
from gridvend.stations.services.contact import MAX_AHEAD
from gridvend.stations.services.relay import require_forwarder
from gridvend.vending.errors import OfflineSaleInvalid
from gridvend.vending.models import Shift, ShiftStatus
from gridvend.vending.services.offline import (
    OfflineBatch,
    OfflineFinding,
    PreparedOfflineSale,
    prepare_offline_batch,
)

logger = logging.getLogger("gridvend.stations")

# At most this many entries in one batch (the body is capped in bytes before this).
MAX_BATCH_ENTRIES = 5_000
BATCH_KEYS = frozenset({"batch_id", "entries", "unsynced_since", "station"})


class Reason(StrEnum):
    """Why a batch was rejected (stable codes, in ``StationBatch.reason_code``)."""

    EDITED = "edited"
    REMOVED = "removed"
    REORDERED = "reordered"
    INSERTED = "inserted"
    BAD_SIGNATURE = "bad_signature"
    FOREIGN_STATION = "foreign_station"
    REVOKED = "revoked"
    INVALID = "invalid"


class _Reject(Exception):
    def __init__(self, reason: Reason, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.reason = reason
        self.seq = seq
        self.problem = problem[:200]


@dataclass(frozen=True)
class _Batch:
    batch_id: str
    entries: list[Any]
    unsynced_since: datetime | None
    digest: str


def _shape(body: object) -> _Batch:
    if not isinstance(body, dict) or not set(body) <= BATCH_KEYS or "batch_id" not in body:
        raise StationBatchInvalid(problem="a batch is {batch_id, entries, unsynced_since}")
    batch_id, entries = body["batch_id"], body.get("entries")
    if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= 64 or not batch_id.isprintable():
        raise StationBatchInvalid(problem="the batch id is not a short text")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BATCH_ENTRIES:
        raise StationBatchInvalid(problem=f"a batch has 1 to {MAX_BATCH_ENTRIES} entries")
    since = body.get("unsynced_since")
    try:
        unsynced = None if since is None else protocol.parse_utc(since)
    except ValueError:
        raise StationBatchInvalid(problem="unsynced_since is not a protocol time") from None
    try:
        # A batch is its id and its entries: ``unsynced_since`` is what the station said when
        # it sent it (a relay forwarding it says its own), not part of what is applied.
        digest = protocol.sha256_hex(protocol.canonical({"batch_id": batch_id, "entries": entries}))
    except (TypeError, ValueError):
        raise StationBatchInvalid(problem="the batch is not plain JSON") from None
    return _Batch(batch_id, entries, unsynced, digest)


def receive_batch(*, station: Station, body: dict[str, Any], via: Station | None = None) -> dict:
    """Verify and apply one uploaded batch of ``station``'s journal; the answer for the station.

    Idempotent per ``(station, batch_id)``: the same batch again is answered as the first time
    (STATION_BATCH_REUSED when the id comes back with other contents). A batch that does not
    verify raises STATION_JOURNAL_REJECTED with its reason, is kept as rejected and alarmed,
    and nothing of it is applied. ``via``: the relay that forwarded it."""
    batch = _shape(body)
    if via is not None:
        # The relay above the station, or one above that relay (station -> BU -> region -> DC):
        # the one check that ``POST batches/forward`` makes too.
        require_forwarder(relay=via, station=station)
    earlier = StationBatch.objects.filter(station=station, batch_id=batch.batch_id).first()
    if earlier is not None and not _tried_again(earlier, batch):
        return _repeat(earlier, batch)
    try:
        with transaction.atomic():
            locked = (
                Station.objects.select_for_update(of=("self",))
                .select_related("org_unit", "vending_point")
                .get(pk=station.pk)
            )
            earlier = StationBatch.objects.filter(station=locked, batch_id=batch.batch_id).first()
            if earlier is not None:
                if not _tried_again(earlier, batch):
                    return _repeat(earlier, batch)
                # Rejected for what the master may have fixed since (a meter, customer or
                # tariff version it lacked, a key it could not load): verified and applied
                # afresh. Should it fail again, this is rolled back and the rejection stays.
                earlier.delete()
            if locked.status == StationStatus.REVOKED:
                raise _Reject(Reason.REVOKED, 0, "the station is revoked")
            if locked.status not in (StationStatus.ACTIVE, StationStatus.SUSPENDED):
                raise StationNotActive(station=locked.code, status=locked.status)
            verified, skipped = _verify(locked, batch.entries)
            return _apply(locked, batch, verified, skipped, via)
    except _Reject as rejected:
        _store_rejection(station, batch, rejected, via)
        raise StationJournalRejected(
            reason=rejected.reason, seq=rejected.seq, problem=rejected.problem
        ) from None


def _tried_again(earlier: StationBatch, batch: _Batch) -> bool:
    """A batch rejected as ``invalid`` (an entry the master could not record as it says) is
    verified again when the station sends it again, unchanged: the station always re-sends
    under the same id, and an operator may have fixed the cause meanwhile. A broken chain or
    signature never heals and is answered from the record."""
    return (
        earlier.status == BatchStatus.REJECTED
        and earlier.reason_code == Reason.INVALID
        and earlier.body_sha256 == batch.digest
    )


def _repeat(earlier: StationBatch, batch: _Batch) -> dict:
    if earlier.body_sha256 != batch.digest:
        raise StationBatchReused(batch_id=batch.batch_id)
    if earlier.status == BatchStatus.REJECTED:
        raise StationJournalRejected(
            reason=earlier.reason_code,
            seq=int(earlier.answer.get("seq", 0)),
            problem=earlier.reason,
        )
    return dict(earlier.answer)


# --- verification --------------------------------------------------------------------------


def _verify(station: Station, entries: list[Any]) -> tuple[list[protocol.ReadEntry], int]:
    """The batch's entries past what was applied, each read under the station's key and
    continuing the chain; entries already applied (a batch re-sent under a new id) must be
    byte-identical to those kept, and are skipped (their count is returned)."""
    expected_seq = station.last_seq + 1
    expected_prev = station.last_hash or protocol.GENESIS
    seqs = [_peek_seq(wire) for wire in entries]
    kept = {
        e.seq: e.entry_hash
        for e in StationEntry.objects.filter(
            station=station, seq__in=[s for s in seqs if 0 < s <= station.last_seq]
        ).only("seq", "entry_hash")
    }
    verified: list[protocol.ReadEntry] = []
    skipped = 0
    seen: dict[int, str] = {}
    for position, wire in enumerate(entries):
        seq = seqs[position]
        entry = _read(station, wire, seq)
        if entry.station != station.code:
            raise _Reject(Reason.FOREIGN_STATION, entry.seq, "the entry names another station")
        if entry.seq <= station.last_seq:
            if verified or kept.get(entry.seq) != entry.entry_hash:
                raise _Reject(Reason.EDITED, entry.seq, "an applied entry comes back changed")
            skipped += 1
            continue
        if entry.seq < expected_seq:
            # Its place is taken already by the entry before it in this batch.
            problem = (
                "an entry appears twice"
                if seen.get(entry.seq) == entry.entry_hash
                else ("a second entry claims a place in the chain")
            )
            raise _Reject(Reason.INSERTED, entry.seq, problem)
        if entry.seq > expected_seq:
            if expected_seq in seqs[position + 1 :]:
                raise _Reject(Reason.REORDERED, entry.seq, "the entries are out of order")
            raise _Reject(
                Reason.REMOVED, expected_seq, f"entry {expected_seq} is missing from the chain"
            )
        if entry.prev != expected_prev:
            raise _Reject(Reason.INSERTED, entry.seq, "the entry does not follow the one before it")
        verified.append(entry)
        seen[entry.seq] = entry.entry_hash
        expected_seq += 1
        expected_prev = entry.entry_hash
    return verified, skipped


def _peek_seq(wire: object) -> int:
    """The sequence number an entry claims, before it is verified (0 when unreadable): only
    used to tell a reordered batch from one with an entry removed."""
    if not isinstance(wire, dict) or not isinstance(wire.get("body"), str):
        return 0
    body = wire["body"]
    marker = body.find('"seq":')
    if marker < 0:
        return 0
    digits = ""
    for ch in body[marker + 6 : marker + 26]:
        if not "0" <= ch <= "9":  # ASCII only: int() refuses some Unicode digits ("²")
            break
        digits += ch
    return int(digits) if digits else 0


def _read(station: Station, wire: object, seq: int) -> protocol.ReadEntry:
    if (
        isinstance(wire, dict)
        and isinstance(wire.get("body"), str)
        and isinstance(wire.get("hash"), str)
        and protocol.sha256_hex(wire["body"]) != wire["hash"]
    ):
        raise _Reject(Reason.EDITED, seq, "the entry's body does not match its hash")
    try:
        return protocol.read_entry(wire, public_hex=station.public_key)
    except protocol.BadSignature:
        raise _Reject(
            Reason.BAD_SIGNATURE, seq, "the entry is not signed by the station's key"
        ) from None
    except (ValueError, KeyError, TypeError) as wrong:
        raise _Reject(Reason.INVALID, seq, str(wrong)) from None


# --- applying ------------------------------------------------------------------------------


def _apply(
    station: Station,
    batch: _Batch,
    entries: list[protocol.ReadEntry],
    skipped: int,
    via: Station | None,
) -> dict:
    now = timezone.now()
    first = entries[0].seq if entries else station.last_seq
    stored = StationBatch.objects.create(
        station=station,
        batch_id=batch.batch_id,
        first_seq=first,
        last_seq=entries[-1].seq if entries else station.last_seq,
        entry_count=len(entries) + skipped,
        body_sha256=batch.digest,
        status=BatchStatus.APPLIED,
        via=via,
        received_at=now,
    )
    allowances = {a.sequence: a for a in StationAllowance.objects.filter(station=station)}
    people = _People(station)
    shifts = {
        link.station_shift: link.shift
        for link in StationShift.objects.filter(station=station).select_related("shift")
    }
    offline = None
    if station.vending_point is not None:
        offline = prepare_offline_batch(
            vending_point=station.vending_point,
            records=[e.data for e in entries if e.kind == "sale"],
        )
    rows: list[StationEntry] = []
    found: list[tuple[int, OfflineFinding]] = []
    sale_rows: list[StationEntry] = []
    sales = 0
    for entry in entries:
        row = StationEntry(
            station=station,
            seq=entry.seq,
            kind=entry.kind,
            occurred_at=entry.occurred_at,
            body=entry.body,
            entry_hash=entry.entry_hash,
            signature=entry.signature,
            batch=stored,
            applied_at=now,
        )
        try:
            if entry.kind == "sale":
                findings = _apply_sale(station, entry, allowances, people, shifts, offline)
                found.extend((len(rows), f) for f in findings)
                sale_rows.append(row)
                sales += 1
            elif entry.kind == "shift_opened":
                _open_shift(station, entry, people, shifts)
            elif entry.kind == "shift_closed":
                _close_shift(entry, people, shifts)
            else:
                raise _Reject(Reason.INVALID, entry.seq, f"unknown entry kind {entry.kind[:20]}")
        except OfflineSaleInvalid as invalid:
            raise _Reject(Reason.INVALID, entry.seq, str(invalid.message)) from None
        rows.append(row)
    if offline is not None:
        # Every sale checked, in order: now written together (the rows each would write
        # alone, in batch-wide statements: vending.services.offline.OfflineBatch.write).
        for row, written in zip(sale_rows, offline.write(), strict=True):
            row.sale = written.sale
    # rows.insert_many, not bulk_create: on PostgreSQL Django 5.2 sends a batch as arrays
    # (UNNEST), which psycopg's client-side binding quotes value by value (an eighth of the
    # apply for the entries' JSON); insert_many binds on the server.
    insert_many(rows)
    conflicts = [
        StationConflict(
            station=station,
            entry=rows[index],
            sale=rows[index].sale,
            kind=finding.kind,
            detail=finding.detail,
            created_at=now,
        )
        for index, finding in found
    ]
    insert_many(conflicts)
    actor = people.service_user()
    for conflict in conflicts:
        record(
            actor=actor,
            event_type=StationEvent.CONFLICT_FLAGGED,
            target=station,
            after={"kind": conflict.kind, "seq": conflict.entry.seq, "detail": conflict.detail},
        )
    if entries:
        station.last_seq = entries[-1].seq
        station.last_hash = entries[-1].entry_hash
    station.last_upload_at = now
    station.last_contact_at = now
    station.unsynced_since = _still_unsynced(station, batch, entries)
    station.save(
        update_fields=[
            "last_seq",
            "last_hash",
            "last_upload_at",
            "last_contact_at",
            "unsynced_since",
            "sold_total_minor",
        ]
    )
    answer = {
        "status": BatchStatus.APPLIED.value,
        "batch_id": batch.batch_id,
        "last_seq": station.last_seq,
        "last_hash": station.last_hash,
        "conflicts": len(conflicts),
    }
    stored.answer = answer
    stored.save(update_fields=["answer"])
    record(
        actor=actor,
        event_type=StationEvent.BATCH_APPLIED,
        target=station,
        after={
            "batch_id": batch.batch_id,
            "first_seq": stored.first_seq,
            "last_seq": stored.last_seq,
            "sales": sales,
            "skipped": skipped,
            "conflicts": len(conflicts),
            **({"via": via.code} if via is not None else {}),
        },
    )
    return answer


def _still_unsynced(
    station: Station, batch: _Batch, entries: list[protocol.ReadEntry]
) -> datetime | None:
    """What the station still holds unsynced, as far as the master can tell once the batch is
    applied. The station sends the time of its oldest entry not uploaded yet — this batch's
    first, which is now applied — so what is left, if anything, is newer than the batch's last
    entry and unknown until it says (its next ``GET status`` or batch): None. A time past the
    batch's last entry is kept, unless it is further ahead than a station's clock may run
    (as ``GET status`` refuses it)."""
    since = batch.unsynced_since
    if since is None or since > timezone.now() + MAX_AHEAD:
        return None
    newest = entries[-1].occurred_at if entries else station.last_upload_at
    if newest is None or since > newest:
        return since
    return None


class _People:
    """The station's operators on the master by username (people of its unit), else its
    service account (made on first need; nobody signs in with it)."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self._found: dict[str, User] = {}
        self._service: User | None = None

    def operator(self, username: object) -> User:
        if not isinstance(username, str) or not 0 < len(username) <= 150:
            return self.service_user()
        user = self._found.get(username)
        if user is None:
            unit = self.station.org_unit
            user = (
                User.objects.filter(username=username, is_active=True)
                .filter(org_unit__path__startswith=unit.path)
                .first()
            )
            user = user or self.service_user()
            self._found[username] = user
        return user

    def service_user(self) -> User:
        if self._service is None:
            name = f"station.{self.station.code}"
            user = User.objects.filter(username=name).first()
            if user is None:
                user = User(
                    username=name,
                    full_name=f"{self.station.name} (station)"[:150],
                    org_unit=self.station.org_unit,
                    role=Role.OPERATOR,
                    is_service_account=True,
                )
                user.set_unusable_password()
                user.save()
            self._service = user
        return self._service


def _apply_sale(
    station: Station,
    entry: protocol.ReadEntry,
    allowances: dict[int, StationAllowance],
    people: _People,
    shifts: dict[int, Shift],
    offline: OfflineBatch | None,
) -> list[OfflineFinding]:
    """Check and price the sale entry and keep it for the batch's write; its findings."""
    data = entry.data
    if station.vending_point is None or offline is None:
        raise _Reject(Reason.INVALID, entry.seq, "a relay sells nothing")
    shift_id = data.get("shift")
    shift = shifts.get(shift_id) if isinstance(shift_id, int) else None
    prepared = offline.add(
        actor=people.operator(data.get("operator")),
        vending_point=station.vending_point,
        record=data,
        fingerprint=entry.entry_hash,
        org_unit=station.org_unit,
        shift=shift,
    )
    findings = list(prepared.findings)
    findings.extend(_allowance_findings(station, prepared, data, allowances))
    return findings


def _allowance_findings(
    station: Station,
    sale: PreparedOfflineSale,
    data: dict[str, Any],
    allowances: dict[int, StationAllowance],
) -> list[OfflineFinding]:
    """The sale against the allowance it names: valid when sold, the cumulative total adding
    up (the master's own count) and not above the ceiling."""
    problems: list[str] = []
    sequence = data.get("allowance")
    allowance = allowances.get(sequence) if isinstance(sequence, int) else None
    if allowance is None:
        problems.append("unknown_allowance")
    elif not allowance.valid_from <= sale.created_at <= allowance.valid_until:
        problems.append("not_valid_when_sold")
    expected = station.sold_total_minor + sale.tender_minor
    claimed = data.get("sold_total_minor")
    if claimed != expected:
        problems.append("total_does_not_add_up")
    station.sold_total_minor = expected
    if allowance is not None and expected > allowance.ceiling_minor:
        problems.append("above_ceiling")
    if not problems:
        return []
    detail = {
        "problems": problems,
        "allowance": sequence if isinstance(sequence, int) else None,
        "ceiling_minor": allowance.ceiling_minor if allowance is not None else None,
        "sold_total_minor": expected,
        "claimed_total_minor": claimed if isinstance(claimed, int) else None,
    }
    return [OfflineFinding("allowance_exceeded", detail)]


def _open_shift(
    station: Station, entry: protocol.ReadEntry, people: _People, shifts: dict[int, Shift]
) -> None:
    data = entry.data
    local = data.get("shift")
    if not isinstance(local, int) or local in shifts or station.vending_point is None:
        raise _Reject(Reason.INVALID, entry.seq, "the shift is not a new shift id")
    try:
        opened_at = protocol.parse_utc(data.get("opened_at"))
        opening = int(data.get("opening_float_minor", 0))
    except (ValueError, TypeError):
        raise _Reject(Reason.INVALID, entry.seq, "the shift's opening is not readable") from None
    currency = data.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not 0 <= opening < 10**15:
        raise _Reject(Reason.INVALID, entry.seq, "the shift's float is not readable")
    operator = people.operator(data.get("operator"))
    fields = {
        "vending_point": station.vending_point,
        "operator": operator,
        "currency": currency,
        "opening_float_minor": opening,
        "opened_at": opened_at,
    }
    try:
        with transaction.atomic():
            shift = Shift.objects.create(status=ShiftStatus.OPEN, **fields)
    except IntegrityError:
        # The operator holds an open shift on the master too (one open shift per person):
        # the station's shift is kept as closed from the start, its close comes with its
        # count (docs/stations.md, "How the master applies a journal").
        shift = Shift.objects.create(
            status=ShiftStatus.CLOSED,
            closed_at=opened_at,
            close_note="open at the station",
            **fields,
        )
    StationShift.objects.create(station=station, station_shift=local, shift=shift)
    shifts[local] = shift


def _close_shift(entry: protocol.ReadEntry, people: _People, shifts: dict[int, Shift]) -> None:
    data = entry.data
    local = data.get("shift")
    shift = shifts.get(local) if isinstance(local, int) else None
    if shift is None:
        raise _Reject(Reason.INVALID, entry.seq, "the shift closed was never opened")
    try:
        closed_at = protocol.parse_utc(data.get("closed_at"))
        over_short = int(data.get("over_short_minor", 0))
    except (ValueError, TypeError):
        raise _Reject(Reason.INVALID, entry.seq, "the shift's close is not readable") from None
    if not -(10**12) < over_short < 10**12:
        raise _Reject(Reason.INVALID, entry.seq, "the shift's over/short is out of range")
    expected, counted = data.get("expected"), data.get("counted")
    if not isinstance(expected, dict) or not isinstance(counted, dict):
        raise _Reject(Reason.INVALID, entry.seq, "the shift's count is not readable")
    shift.status = ShiftStatus.CLOSED
    shift.closed_at = closed_at
    shift.expected = expected
    shift.counted = counted
    shift.over_short_minor = over_short
    shift.close_note = str(data.get("close_note") or "")[:255]
    shift.closed_by = shift.operator
    shift.save(
        update_fields=[
            "status",
            "closed_at",
            "expected",
            "counted",
            "over_short_minor",
            "close_note",
            "closed_by",
        ]
    )


# --- rejection -----------------------------------------------------------------------------


def _store_rejection(
    station: Station, batch: _Batch, rejected: _Reject, via: Station | None
) -> None:
    """Keep the rejected batch (its id answers the same rejection again), audit it and raise
    the supervisor's alarm in the log."""
    seqs = [s for s in (_peek_seq(w) for w in batch.entries) if s > 0]
    logger.error(
        "station %s: batch %s rejected (%s at entry %s): %s",
        station.code,
        batch.batch_id,
        rejected.reason,
        rejected.seq,
        rejected.problem,
    )
    try:
        with transaction.atomic():
            StationBatch.objects.create(
                station=station,
                batch_id=batch.batch_id,
                first_seq=min(seqs) if seqs else 0,
                last_seq=max(seqs) if seqs else 0,
                entry_count=len(batch.entries),
                body_sha256=batch.digest,
                status=BatchStatus.REJECTED,
                reason_code=rejected.reason,
                reason=rejected.problem,
                via=via,
                answer={"seq": rejected.seq},
            )
            record(
                actor=_People(station).service_user(),
                event_type=StationEvent.BATCH_REJECTED,
                target=station,
                after={
                    "batch_id": batch.batch_id,
                    "reason": rejected.reason,
                    "seq": rejected.seq,
                    "problem": rejected.problem,
                    **({"via": via.code} if via is not None else {}),
                },
            )
    except IntegrityError:
        # The same batch id was rejected concurrently: that one is kept.
        pass


__all__ = ["MAX_BATCH_ENTRIES", "Reason", "receive_batch"]
