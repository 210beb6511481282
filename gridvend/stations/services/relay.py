"""A business-unit relay: store-and-forward of its stations' journals up the tree (station ->
business unit -> data centre, docs/stations.md "Relays").

On a relay (``LocalStation.role == "relay"``) the stations under it upload to the relay's own
``POST batches`` exactly as they would to the master. The relay checks each entry's signature by
the station's key and the chain against what it already holds for that station, keeps the batch
(``StationBatch`` status ``stored``, ``forwarded_at`` null) and acknowledges it, signed with its
own key. ``forward_pending`` sends the kept batches up unchanged — the station's own signed
entries, so the master verifies them against the station's key and no hop can alter a sale — and
marks a batch forwarded only once the next hop acknowledged it under its signature: a dead master
or a cut link loses nothing, and a batch sent twice is applied once upstream (batch ids).

On the master (and on a relay with relays below it), ``POST batches/forward`` takes a batch a
relay forwards: ``forwarded_batch`` checks that the caller is a relay and an ancestor of the
named station, and the view applies it (master) or keeps it (relay)."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, MasterClient, Refused, UpstreamError
from gridvend.stations.errors import StationNotUnderRelay, StationRelayRejected
from gridvend.stations.events import StationEvent
from gridvend.stations.local import this_station
from gridvend.stations.models import (
    BatchStatus,
    Station,
    StationAllowance,
    StationBatch,
    StationEntry,
    StationRole,
)

# A station names its batches "<station>:<first seq>-<last seq>" (stations.services.upload).
BATCH_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Entries one batch may carry (the body itself is capped before it is read).
MAX_BATCH_ENTRIES = 5_000
# How many relays a forwarded batch may have climbed through (station -> BU -> region -> DC).
MAX_HOPS = 4
# Batches one ``forward_pending`` call sends before it returns (the sync cycle calls it again).
FORWARD_BATCHES_PER_CALL = 200


def is_relay() -> bool:
    """True when this install is a business-unit relay (its batches are kept, not applied)."""
    me = this_station()
    return me is not None and me.role == StationRole.RELAY


# --- Receiving a child's batch -------------------------------------------------------------


def position(station: Station) -> tuple[int, str]:
    """The last sequence number and hash this install holds of ``station``'s journal: its newest
    kept entry, or what the master had applied when the station's row was pulled (a station that
    uploaded straight to the master before it was put under this relay)."""
    newest = (
        StationEntry.objects.filter(station=station)
        .order_by("-seq")
        .values_list("seq", "entry_hash")
        .first()
    )
    pulled = (station.last_seq, station.last_hash or protocol.GENESIS)
    if newest is None or pulled[0] > newest[0]:
        return pulled
    return newest


def store_batch(*, station: Station, body: object, via: Station | None = None) -> dict[str, Any]:
    """Verify ``body`` (``{batch_id, entries, unsynced_since?}``) as a batch of ``station``'s
    journal and keep it for forwarding; the answer is the station's acknowledgement. The same
    batch again is answered alike and kept once; entries already held (a station that lost the
    acknowledgement and sent them again under a new batch id) are skipped when they are the very
    entries held. Anything else is refused whole (``STATION_RELAY_REJECTED``) and audited."""
    me = this_station()
    if me is None or me.role != StationRole.RELAY:
        raise RuntimeError("only a relay keeps batches for forwarding")
    if not is_ancestor(me.code, station):
        raise StationNotUnderRelay(station=station.code, relay=me.code)
    batch_id, wires = _shape(station, body)
    digest = protocol.sha256_hex(protocol.canonical({"batch_id": batch_id, "entries": wires}))
    try:
        return _store(station, batch_id, wires, digest, via)
    except StationRelayRejected as rejected:
        with transaction.atomic():
            record(
                actor=None,
                event_type=StationEvent.BATCH_REJECTED,
                target=station,
                after={
                    "batch_id": batch_id,
                    "code": rejected.code,
                    "reason": str(rejected.message),
                },
            )
        raise


def _shape(station: Station, body: object) -> tuple[str, list[Any]]:
    if not isinstance(body, dict):
        raise StationRelayRejected(station=station.code, seq=0, problem="the body is not an object")
    batch_id, wires = body.get("batch_id"), body.get("entries")
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise StationRelayRejected(station=station.code, seq=0, problem="the batch id is not valid")
    if not isinstance(wires, list) or not 1 <= len(wires) <= MAX_BATCH_ENTRIES:
        raise StationRelayRejected(
            station=station.code,
            seq=0,
            problem=f"a batch carries 1 to {MAX_BATCH_ENTRIES} entries",
        )
    return batch_id, wires


def _acknowledgement(batch_id: str, seq: int, last_hash: str) -> dict[str, Any]:
    """The answer to a batch (the same each time it is sent): the journal is held up to its
    last entry."""
    return {
        "status": BatchStatus.STORED.value,
        "batch_id": batch_id,
        "last_seq": seq,
        "last_hash": last_hash,
        "conflicts": [],
    }


@transaction.atomic
def _store(
    station: Station, batch_id: str, wires: list[Any], digest: str, via: Station | None
) -> dict[str, Any]:
    # One batch of a station at a time: the chain is checked against the newest entry held.
    Station.objects.select_for_update().filter(pk=station.pk).first()
    same = StationBatch.objects.filter(station=station, batch_id=batch_id).first()
    if same is not None:
        if same.body_sha256 != digest:
            raise StationRelayRejected(
                station=station.code,
                seq=same.first_seq,
                problem="a batch with this id and other entries was received before",
            )
        last = StationEntry.objects.get(station=station, seq=same.last_seq)
        return _acknowledgement(batch_id, last.seq, last.entry_hash)
    last_seq, last_hash = position(station)
    fresh: list[protocol.ReadEntry] = []
    newest_sent = (last_seq, last_hash)
    for index, wire in enumerate(wires):
        try:
            entry = protocol.read_entry(wire, public_hex=station.public_key)
        except (protocol.BadSignature, ValueError, KeyError) as bad:
            raise StationRelayRejected(
                station=station.code, seq=last_seq + index + 1, problem=str(bad)
            ) from None
        if entry.station != station.code:
            raise StationRelayRejected(
                station=station.code, seq=entry.seq, problem="the entry names another station"
            )
        if entry.seq <= last_seq and not fresh:
            held = StationEntry.objects.filter(station=station, seq=entry.seq).first()
            if held is not None and held.entry_hash == entry.entry_hash:
                # Sent before under another batch id: held already.
                newest_sent = (entry.seq, entry.entry_hash)
                continue
            raise StationRelayRejected(
                station=station.code,
                seq=entry.seq,
                problem=f"the entry does not continue the journal after {last_seq}",
            )
        if entry.seq != last_seq + 1 or entry.prev != last_hash:
            raise StationRelayRejected(
                station=station.code,
                seq=entry.seq,
                problem=f"the entry does not continue the journal after {last_seq}",
            )
        fresh.append(entry)
        last_seq, last_hash = entry.seq, entry.entry_hash
    now = timezone.now()
    Station.objects.filter(pk=station.pk).update(last_contact_at=now, last_upload_at=now)
    if not fresh:
        return _acknowledgement(batch_id, *newest_sent)
    batch = StationBatch.objects.create(
        station=station,
        batch_id=batch_id,
        first_seq=fresh[0].seq,
        last_seq=fresh[-1].seq,
        entry_count=len(fresh),
        body_sha256=digest,
        status=BatchStatus.STORED,
        via=via,
        received_at=now,
    )
    StationEntry.objects.bulk_create(
        StationEntry(
            station=station,
            seq=entry.seq,
            kind=entry.kind,
            occurred_at=entry.occurred_at,
            body=entry.body,
            entry_hash=entry.entry_hash,
            signature=entry.signature,
            batch=batch,
        )
        for entry in fresh
    )
    record(
        actor=None,
        event_type=StationEvent.BATCH_STORED,
        target=batch,
        org_path=station.org_unit.path,
        after={
            "station": station.code,
            "batch_id": batch_id,
            "first_seq": batch.first_seq,
            "last_seq": batch.last_seq,
        },
    )
    return _acknowledgement(batch_id, last_seq, last_hash)


# --- Forwarding up -------------------------------------------------------------------------


@dataclass
class ForwardResult:
    forwarded: int = 0  # batches the next hop acknowledged
    entries: int = 0
    # Batches the next hop refused (kept, not marked): (station, batch_id, code).
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    # Batches the next hop failed on (a 5xx): (station, batch_id, why). Kept, sent again at the
    # next cycle; only that station waits, its siblings go on.
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    more: bool = False  # batches are left for the next call


def forward_body(batch: StationBatch) -> dict[str, Any]:
    """What goes up for one kept batch: the station's entries exactly as it signed them, and
    since when the next hop lacks the station's journal (its oldest entry not yet acknowledged
    upstream: this batch's first, as batches go up oldest first)."""
    rows = list(
        batch.entries.order_by("seq").values_list("body", "entry_hash", "signature", "occurred_at")
    )
    return {
        "station": batch.station.code,
        "batch_id": batch.batch_id,
        "entries": [
            {"body": body, "hash": entry_hash, "signature": signature}
            for body, entry_hash, signature, _ in rows
        ],
        "unsynced_since": protocol.utc_text(rows[0][3]) if rows else None,
    }


def forward_pending(
    client: MasterClient,
    *,
    limit: int = FORWARD_BATCHES_PER_CALL,
    skip: set[int] | None = None,
) -> ForwardResult:
    """Send every kept batch not yet acknowledged up to ``client``'s master (or relay), oldest
    first per station. A batch is marked forwarded only after the next hop's signed
    acknowledgement; a refused batch stays kept (and its station's later batches wait behind
    it). A batch the next hop answers 5xx for (it fails on this batch, perhaps on it alone)
    stays kept too and its station is skipped for the rest of the pass: the other stations'
    batches still go up, so one station's batch cannot starve its siblings. ``skip`` holds the
    stations skipped so far in this pass (the caller shares it between calls, so a failing
    station is tried once per pass); their ids are added to it. A link that is down (no
    connection, a time-out, an answer not signed by the next hop) raises ``LinkDown`` as it
    comes: what was acknowledged before stays marked, the rest is sent again at the next call."""
    result = ForwardResult()
    blocked = skip if skip is not None else set()
    pending = (
        StationBatch.objects.filter(status=BatchStatus.STORED, forwarded_at__isnull=True)
        .exclude(station_id__in=sorted(blocked))
        .select_related("station", "station__org_unit")
        .order_by("station_id", "first_seq")
    )
    for batch in pending[: limit + 1]:
        if result.forwarded + len(result.refused) + len(result.failed) >= limit:
            result.more = True
            break
        if batch.station_id in blocked:
            continue
        body = forward_body(batch)
        try:
            reply = client.post("batches/forward", body)
        except Refused as refused:
            blocked.add(batch.station_id)
            result.refused.append((batch.station.code, batch.batch_id, refused.code))
            with transaction.atomic():
                record(
                    actor=None,
                    event_type=StationEvent.BATCH_REJECTED,
                    target=batch,
                    org_path=batch.station.org_unit.path,
                    after={"batch_id": batch.batch_id, "code": refused.code, "upstream": True},
                )
            continue
        except UpstreamError as failed:
            # Not audited (nothing was refused, and it comes back every cycle); the cycle's
            # notes and the relay's log say which batch and why.
            blocked.add(batch.station_id)
            result.failed.append((batch.station.code, batch.batch_id, str(failed)))
            continue
        if reply.get("batch_id") != batch.batch_id or reply.get("status") not in (
            BatchStatus.APPLIED.value,
            BatchStatus.STORED.value,
        ):
            raise LinkDown(f"the next hop did not acknowledge batch {batch.batch_id}")
        if _mark_forwarded(batch, timezone.now()):
            result.forwarded += 1
            result.entries += batch.entry_count
    return result


@transaction.atomic
def _mark_forwarded(batch: StationBatch, when: datetime) -> bool:
    marked = StationBatch.objects.filter(pk=batch.pk, forwarded_at__isnull=True).update(
        forwarded_at=when
    )
    if marked:
        record(
            actor=None,
            event_type=StationEvent.BATCH_FORWARDED,
            target=batch,
            org_path=batch.station.org_unit.path,
            after={"station": batch.station.code, "batch_id": batch.batch_id},
        )
    return bool(marked)


# --- Taking a forwarded batch (master, or a relay with relays below it) ---------------------


def is_ancestor(relay_code: str, station: Station) -> bool:
    """True when the relay ``relay_code`` is ``station``'s parent, or its parent's, and so on."""
    current = station
    for _ in range(MAX_HOPS):
        parent = Station.objects.filter(pk=current.parent_id).first() if current.parent_id else None
        if parent is None:
            return False
        if parent.code == relay_code:
            return True
        current = parent
    return False


def require_forwarder(*, relay: Station, station: Station) -> None:
    """Refuse (``STATION_NOT_UNDER_RELAY``) unless ``relay`` is a relay above ``station`` (its
    parent, or a relay above that one) and the station has enrolled: the one check of who may
    hand up a station's batch, made by ``forwarded_batch`` and again by the journal that
    applies it."""
    if relay.role != StationRole.RELAY or not station.public_key:
        raise StationNotUnderRelay(station=station.code, relay=relay.code)
    if not is_ancestor(relay.code, station):
        raise StationNotUnderRelay(station=station.code, relay=relay.code)


def forwarded_batch(*, relay: Station, data: object) -> tuple[Station, dict[str, Any]]:
    """The station a relay's ``POST batches/forward`` names and the batch body to take for it.
    Refused unless the caller is a relay above that station (``STATION_NOT_UNDER_RELAY``)."""
    if not isinstance(data, dict):
        raise StationNotUnderRelay(station="", relay=relay.code)
    named = data.get("station")
    code = named if isinstance(named, str) else ""
    station = Station.objects.select_related("org_unit").filter(code=code[:40]).first()
    if station is None:
        raise StationNotUnderRelay(station=code[:40], relay=relay.code)
    require_forwarder(relay=relay, station=station)
    body = {k: v for k, v in data.items() if k in ("batch_id", "entries", "unsynced_since")}
    return station, body


def take_batch(*, station: Station, body: Any, via: Station | None) -> dict[str, Any]:
    """A station's batch (``via`` None) or one a relay forwards: on a relay, kept for the next
    hop; on the master, applied exactly once by the journal
    (``stations.services.journal.receive_batch``, the master-apply part; resolved by name here so
    that this module does not depend on its import order)."""
    if is_relay():
        return store_batch(station=station, body=body, via=via)
    journal = importlib.import_module("gridvend.stations.services.journal")
    result: dict[str, Any] = journal.receive_batch(station=station, body=body, via=via)
    return result


# --- What a relay answers its children from its own copy -----------------------------------


def child_status(
    station: Station, *, unsynced_since: datetime | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """``GET status`` for a station under this relay, from the relay's copy (the station's row and
    allowances as pulled from the master, which signed the allowance; the journal position as the
    relay holds it). The contact is noted on the relay's copy of the station's row (not watched by
    the change log). Refused (``STATION_NOT_UNDER_RELAY``) for a station not below this relay."""
    me = this_station()
    if me is None or not is_ancestor(me.code, station):
        raise StationNotUnderRelay(station=station.code, relay=me.code if me else "")
    now = now or timezone.now()
    Station.objects.filter(pk=station.pk).update(last_contact_at=now, unsynced_since=unsynced_since)
    allowance = StationAllowance.objects.filter(station=station).order_by("-sequence").first()
    seq, last_hash = position(station)
    return {
        "status": station.status,
        "reason": station.status_reason,
        "allowance": (
            {"payload": allowance.payload, "signature": allowance.signature}
            if allowance is not None
            else None
        ),
        "last_seq": seq,
        "last_hash": last_hash,
        "server_time": protocol.utc_text(now),
    }
