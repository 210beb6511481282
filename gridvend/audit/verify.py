"""Walks each stream of the audit trail and reports every row that was edited, deleted or inserted
out of order, and every way the table disagrees with its heads and with the signed checkpoints
kept outside it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gridvend.audit import checkpoints
from gridvend.audit.chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    SCHEME_LINK,
    SCHEME_ROW,
    compute_hash,
    content_hash,
    link_hash,
)
from gridvend.audit.checkpoints import Checkpoint
from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.streams import AUDIT_STREAMS


@dataclass
class StreamEnd:
    """The end of a stream's verified chain, for its next checkpoint."""

    seq: int = 0
    hash: str = GENESIS_HASH
    rows: int = 0


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    ends: dict[int, StreamEnd] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def rows(self) -> int:
        return sum(end.rows for end in self.ends.values())


def _rows(stream: int, batch: int, after: int) -> Iterator[AuditEvent]:
    last = after
    while True:
        chunk = list(AuditEvent.objects.filter(stream=stream, seq__gt=last).order_by("seq")[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq


def recomputed(event: AuditEvent) -> str | None:
    """The hash the event's stored fields give under its scheme (None: no such scheme)."""
    fields = {name: getattr(event, name) for name in EVENT_FIELDS}
    if event.scheme == SCHEME_ROW:
        return compute_hash(seq=event.seq, prev_hash=event.prev_hash, **fields)
    if event.scheme == SCHEME_LINK:
        content = content_hash(scheme=SCHEME_LINK, **fields)
        return link_hash(
            prev_hash=event.prev_hash, stream=event.stream, seq=event.seq, content=content
        )
    return None


def _row(event: AuditEvent) -> str:
    return f"stream {event.stream} row {event.seq} (event #{event.pk})"


def _anchor(report: ChainReport, stream: int, since: Checkpoint) -> AuditEvent | None:
    """The checkpoint to continue from still describes the stream; its row, or None when it
    does not (the problem is reported)."""
    stored = AuditEvent.objects.filter(stream=stream, seq=since.seq).first()
    count = AuditEvent.objects.filter(stream=stream, seq__lte=since.seq).count()
    problems = len(report.problems)
    if stored is None:
        report.problems.append(
            f"stream {stream} row {since.seq}, recorded by the checkpoint of {since.at}, "
            "is missing (deleted)"
        )
    elif stored.hash != since.hash or recomputed(stored) != since.hash:
        report.problems.append(
            f"{_row(stored)} differs from the checkpoint of {since.at} (chain rewritten)"
        )
    if count != since.count:
        report.problems.append(
            f"stream {stream} holds {count} rows up to row {since.seq} but the checkpoint of "
            f"{since.at} recorded {since.count} (rows deleted)"
        )
    return stored if len(report.problems) == problems else None


def _verify_stream(
    report: ChainReport,
    stream: int,
    *,
    head: AuditHead | None,
    pinned: Sequence[Checkpoint],
    since: Checkpoint | None,
    batch: int,
) -> None:
    expected_seq, prev_hash, earlier_rows, linked = 1, GENESIS_HASH, 0, False
    if since is not None and since.seq:
        anchor = _anchor(report, stream, since)
        if anchor is None:
            return
        expected_seq, prev_hash, earlier_rows = since.seq + 1, since.hash, since.count
        linked = anchor.scheme == SCHEME_LINK
    by_seq = {checkpoint.seq: checkpoint for checkpoint in pinned}
    matched: set[int] = set()
    hash_at_head = prev_hash if head is not None and head.seq == expected_seq - 1 else None
    checked = 0
    for event in _rows(stream, batch, after=expected_seq - 1):
        checked += 1
        row = _row(event)
        if event.seq != expected_seq:
            report.problems.append(
                f"stream {stream} rows {expected_seq}..{event.seq - 1} are missing "
                "(deleted from the chain)"
            )
        if event.prev_hash != prev_hash:
            report.problems.append(f"{row}: link to the previous row is broken")
        if recomputed(event) != event.hash:
            report.problems.append(f"{row}: content does not match its hash (edited)")
        # Rows of the old whole-row scheme were all written before streams, into what became
        # stream 0; one anywhere else was put there afterwards.
        if event.scheme == SCHEME_ROW and (stream != 0 or linked):
            report.problems.append(f"{row}: written in the old scheme out of place (inserted)")
        linked = linked or event.scheme == SCHEME_LINK
        checkpoint = by_seq.get(event.seq)
        if checkpoint is not None:
            matched.add(event.seq)
            if checkpoint.hash != event.hash:
                report.problems.append(
                    f"{row} differs from the checkpoint of {checkpoint.at} (chain rewritten)"
                )
        if head is not None and event.seq == head.seq:
            hash_at_head = event.hash
        prev_hash = event.hash
        expected_seq = event.seq + 1
    report.checked += checked
    end = StreamEnd(seq=expected_seq - 1, hash=prev_hash, rows=earlier_rows + checked)
    report.ends[stream] = end
    _compare_checkpoints(report, stream, end, pinned, matched)
    if head is None:
        if end.rows:
            report.problems.append(f"stream {stream}: the record of its end is missing (deleted)")
    elif head.seq > end.seq:
        report.problems.append(
            f"stream {stream} should end at row {head.seq} but ends at row {end.seq} "
            "(latest rows deleted)"
        )
    elif hash_at_head != head.hash:
        report.problems.append(
            f"stream {stream}: row {head.seq} does not match the recorded end of the stream"
        )


def _compare_checkpoints(
    report: ChainReport,
    stream: int,
    end: StreamEnd,
    pinned: Sequence[Checkpoint],
    matched: set[int],
) -> None:
    lost = [c for c in pinned if c.seq and c.seq not in matched]
    if lost:
        latest = lost[-1]
        more = f"; so are the rows of {len(lost) - 1} earlier checkpoints" if len(lost) > 1 else ""
        report.problems.append(
            f"stream {stream} row {latest.seq}, recorded by the checkpoint of {latest.at}, is "
            f"missing (deleted){more}"
        )
    if pinned and end.rows < pinned[-1].count:
        latest = pinned[-1]
        report.problems.append(
            f"stream {stream} holds {end.rows} rows but the checkpoint of {latest.at} recorded "
            f"{latest.count} (rows deleted or table truncated)"
        )


def _beyond_the_heads(report: ChainReport) -> None:
    """Rows past a stream's recorded end, and rows in no stream. The heads are read again after
    the walk: a row appended while it ran was committed with its head moved past it, so only a
    row inserted without moving the head lies beyond it."""
    heads = dict(AuditHead.objects.values_list("id", "seq"))
    for stream, end in sorted(report.ends.items()):
        head_seq = heads.get(stream)
        if head_seq is not None and end.seq > head_seq:
            report.problems.append(
                f"stream {stream} rows {head_seq + 1}..{end.seq} lie beyond its recorded end "
                "(inserted)"
            )
    if AuditEvent.objects.filter(stream__gte=AUDIT_STREAMS).exists():
        report.problems.append(
            f"rows in streams beyond the {AUDIT_STREAMS} the trail has (inserted)"
        )


def verify_chain(
    *,
    batch: int = 2000,
    checkpoints: Sequence[Checkpoint] = (),
    since: Mapping[int, Checkpoint] | None = None,
) -> ChainReport:
    """Recompute every stream from its start, or only past ``since`` (each stream's latest
    trusted checkpoint), and compare each with its recorded end and with every checkpoint
    given."""
    report = ChainReport()
    # The heads are read first: rows appended while the walk runs lie beyond them, which is fine.
    heads = {head.pk: head for head in AuditHead.objects.all()}
    pinned: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        pinned.setdefault(checkpoint.number, []).append(checkpoint)
    since = since or {}
    for stream in sorted(set(range(AUDIT_STREAMS)) | set(heads) | set(pinned) | set(since)):
        _verify_stream(
            report,
            stream,
            head=heads.get(stream),
            pinned=pinned.get(stream, []),
            since=since.get(stream),
            batch=batch,
        )
    _beyond_the_heads(report)
    return report


def sign_checkpoint(report: ChainReport, path: Path) -> str:
    """Record the end of every stream just verified intact; the sentence says what happened."""
    made = [
        checkpoints.make(stream=stream, seq=end.seq, hash=end.hash, count=end.rows)
        for stream, end in sorted(report.ends.items())
        if end.seq
    ]
    written = checkpoints.append_all(made, path)
    if written:
        return f"checkpoints signed for {len(written)} stream(s) in {path}"
    return f"{path} already holds a checkpoint at the end of every stream"
