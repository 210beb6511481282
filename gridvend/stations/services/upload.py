"""The station's upload (docs/stations.md, Upload and the sync cycle): every journal entry the
master (or the relay above) has not acknowledged, oldest first, in batches (``POST batches``).

A batch's rows are named (``LocalEntry.batch_id`` = ``<station>:<first seq>-<last seq>``) and
committed before it is sent, and a named batch is always sent again exactly as it was: a batch
whose answer was lost (the link cut, the station killed mid-upload) goes again with the same id
and the same entries, and the master answers it with its first answer and applies it once.
Rows are marked uploaded only after the master's signed acknowledgement names this batch and
ends on the hash this station holds for that sequence number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.stations import protocol
from gridvend.stations.client import LinkDown, MasterClient, Refused
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalEntry, LocalStation

logger = logging.getLogger("gridvend.stations")

MAX_BATCH_SIZE = 5_000
# Kept well under the master's GRIDVEND_STATION_MAX_BODY_BYTES (8 MiB by default).
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass
class UploadResult:
    batches: int = 0
    entries: int = 0
    # What the master flagged while applying (its answers' ``conflicts``), for the log.
    conflicts: list[Any] = field(default_factory=list)
    # Set when the upload stopped: the master's signed refusal (kept for the operator) or a
    # link that is down (the cycle backs off).
    refused_code: str = ""
    refused_message: str = ""
    link_down: str = ""
    pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused_code and not self.link_down

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "entries": self.entries,
            "conflicts": len(self.conflicts),
            "refused": self.refused_code,
            "link_down": self.link_down,
            "pending": self.pending,
        }


class AcknowledgementMismatch(Exception):
    """A signed answer that does not acknowledge what was sent."""


def batch_id(station: str, first: int, last: int) -> str:
    return f"{station}:{first}-{last}"


def pending_count() -> int:
    return LocalEntry.objects.filter(uploaded_at__isnull=True).count()


def _next_batch(station: LocalStation, batch_size: int) -> list[LocalEntry]:
    """The batch to send: the oldest one already named and not acknowledged (sent again
    exactly), or else the oldest unnamed entries, named now and committed before sending."""
    named = (
        LocalEntry.objects.filter(uploaded_at__isnull=True)
        .exclude(batch_id="")
        .order_by("seq")
        .values_list("batch_id", flat=True)
        .first()
    )
    if named is not None:
        return list(LocalEntry.objects.filter(batch_id=named).order_by("seq"))
    with transaction.atomic():
        # The journal's writers lock this row too: no entry is appended while a batch is cut.
        LocalStation.objects.select_for_update().filter(pk=station.pk).first()
        rows: list[LocalEntry] = []
        size = 0
        for row in LocalEntry.objects.filter(uploaded_at__isnull=True, batch_id="").order_by("seq")[
            :batch_size
        ]:
            size += len(row.body) + 300
            if rows and size > MAX_BATCH_BYTES:
                break
            rows.append(row)
        if not rows:
            return []
        name = batch_id(station.code, rows[0].seq, rows[-1].seq)
        LocalEntry.objects.filter(pk__in=[r.pk for r in rows]).update(batch_id=name)
        for row in rows:
            row.batch_id = name
    return rows


def acknowledge(last_seq: object, last_hash: object) -> int:
    """Mark uploaded every entry up to ``last_seq`` once the master's signed word (a batch's
    answer or its status) names the hash this station holds there; returns how many. An
    acknowledgement that does not match the journal marks nothing and raises."""
    if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
        raise AcknowledgementMismatch("the acknowledged sequence number is not a whole number")
    if last_seq == 0:
        return 0
    held = LocalEntry.objects.filter(seq=last_seq).values_list("entry_hash", flat=True).first()
    if held is None or held != last_hash:
        raise AcknowledgementMismatch(
            f"the master's journal ends at #{last_seq} on a hash this station does not hold there"
        )
    now = timezone.now()
    with transaction.atomic():
        marked = LocalEntry.objects.filter(seq__lte=last_seq, uploaded_at__isnull=True).update(
            uploaded_at=now
        )
        if marked:
            LocalStation.objects.filter(pk=1).update(
                last_upload_at=now, upload_refusal_code="", upload_refusal=""
            )
    return marked


def rewind(last_seq: object, last_hash: object) -> int:
    """The upstream's signed status holds this station's journal only up to ``last_seq``, less
    than it had acknowledged (a relay that lost its disk before forwarding): the entries after
    ``last_seq`` are marked not uploaded and their batch names dropped, so the upload cuts them
    again from ``last_seq + 1`` and sends them (the master applies an entry once, whatever the
    batch). Returns how many entries were acknowledged and are now pending again; nothing is
    changed unless the upstream's position is a point of this journal (its hash held there).

    Under a relay, never below what the master itself said it applied
    (``LocalStation.applied_seq``, from the changes pages): a relay saying less (a rogue or
    stale one answering ``last_seq`` 0) gets again only the entries after that, not the whole
    journal. Talking to the master directly, its signed word is taken as it is (a master
    restored from its backup gets again what it lost), and ``applied_seq`` comes down with it.
    The same rewind again (an upstream saying it every cycle) is logged, not audited again."""
    if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
        return 0  # acknowledge() refuses it
    top = (
        LocalEntry.objects.filter(uploaded_at__isnull=False)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    me = LocalStation.objects.only("applied_seq", "upstream_public_key", "master_public_key").get(
        pk=1
    )
    # The floor guards against a relay's word only: a station talking to the master directly
    # takes its signed status as it is (a master restored from its backup holds less than it
    # had applied, and must get those entries again, or the chain never continues).
    floor = me.applied_seq if me.upstream_public_key != me.master_public_key else 0
    position = max(last_seq, floor)
    if top is None or top <= position:
        return 0
    if last_seq >= floor and last_seq > 0:
        held = LocalEntry.objects.filter(seq=last_seq).values_list("entry_hash", flat=True).first()
        if held is None or held != last_hash:
            raise AcknowledgementMismatch(
                f"the upstream's journal ends at #{last_seq} on a hash this station does not "
                "hold there"
            )
    with transaction.atomic():
        station = LocalStation.objects.select_for_update().get(pk=1)
        again = LocalEntry.objects.filter(seq__gt=position, uploaded_at__isnull=False).count()
        LocalEntry.objects.filter(seq__gt=position).update(uploaded_at=None, batch_id="")
        if not floor and station.applied_seq > position:
            # The master holds less than it once applied: it has applied only this much now.
            LocalStation.objects.filter(pk=1).update(applied_seq=position)
        audited = station.rewound_to != position
        if audited:
            LocalStation.objects.filter(pk=1).update(rewound_to=position)
            record(
                actor=None,
                event_type=StationEvent.UPLOAD_REWOUND,
                target=station,
                after={
                    "upstream_last_seq": last_seq,
                    "applied_seq": floor,
                    "acknowledged_to": top,
                    "sent_again": again,
                },
            )
    logger.warning(
        "station %s: the upstream holds the journal to #%d, not #%d: %d entries after #%d go "
        "again%s",
        station.code,
        last_seq,
        top,
        again,
        position,
        "" if audited else " (the same rewind as before: not audited again)",
    )
    return again


def _keep_refusal(station: LocalStation, code: str, message: str) -> None:
    """A refusal stops the upload and stays for the operator: on the station's row (shown by
    `gridvend station status`), in the audit log and in the log."""
    logger.error("station %s: the master refused an upload: %s %s", station.code, code, message)
    with transaction.atomic():
        LocalStation.objects.filter(pk=station.pk).update(
            upload_refusal_code=code[:60], upload_refusal=message[:500]
        )
        record(
            actor=None,
            event_type=StationEvent.UPLOAD_REFUSED,
            target=station,
            after={"code": code[:60], "message": message[:200]},
        )


def upload_pending(client: MasterClient, *, batch_size: int = 500) -> UploadResult:
    """Send every entry not yet acknowledged, oldest first, ``batch_size`` entries a batch, until
    none is left or the upload stops (a refusal, kept for the operator; a link that is down)."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be within 1..{MAX_BATCH_SIZE}")
    station = LocalStation.objects.get(pk=1)
    result = UploadResult()
    while True:
        rows = _next_batch(station, batch_size)
        if not rows:
            break
        name = rows[0].batch_id
        body = {
            "batch_id": name,
            "entries": [
                {"body": r.body, "hash": r.entry_hash, "signature": r.signature} for r in rows
            ],
            "unsynced_since": protocol.utc_text(rows[0].occurred_at),
        }
        try:
            answer = client.post("batches", body)
            if answer.get("batch_id") != name:
                raise AcknowledgementMismatch("the answer names another batch")
            if answer.get("last_seq") != rows[-1].seq:
                raise AcknowledgementMismatch(
                    f"the answer acknowledges #{answer.get('last_seq')!s:.20}, not #{rows[-1].seq}"
                )
            acknowledge(answer.get("last_seq"), answer.get("last_hash"))
        except LinkDown as down:
            logger.warning("station %s: upload stopped, link down: %s", station.code, down)
            result.link_down = str(down)[:255]
            break
        except Refused as refused:
            _keep_refusal(station, refused.code, refused.message)
            result.refused_code, result.refused_message = refused.code, refused.message
            break
        except AcknowledgementMismatch as bad:
            _keep_refusal(station, "ACKNOWLEDGEMENT_MISMATCH", str(bad))
            result.refused_code, result.refused_message = "ACKNOWLEDGEMENT_MISMATCH", str(bad)
            break
        result.batches += 1
        result.entries += len(rows)
        conflicts = answer.get("conflicts")
        if isinstance(conflicts, list):
            result.conflicts.extend(conflicts[:1000])
    result.pending = pending_count()
    return result
