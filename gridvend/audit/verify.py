"""Walks the audit chain and reports every row that was edited, deleted or inserted out of order,
and every way the table disagrees with the signed checkpoints kept outside it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gridvend.audit import checkpoints
from gridvend.audit.chain import GENESIS_HASH, compute_hash
from gridvend.audit.checkpoints import Checkpoint
from gridvend.audit.models import AuditEvent, AuditHead


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    # The end of the verified chain, for the next checkpoint.
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(batch: int, after: int) -> Iterator[AuditEvent]:
    last = after
    while True:
        chunk = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq


def _recomputed(event: AuditEvent) -> str:
    return compute_hash(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        ip=event.ip,
        request_id=event.request_id,
        event_type=event.event_type,
        target_type=event.target_type,
        target_id=event.target_id,
        target_label=event.target_label,
        org_path=event.org_path,
        before=event.before,
        after=event.after,
        prev_hash=event.prev_hash,
    )


def _anchor(report: ChainReport, since: Checkpoint) -> bool:
    """The checkpoint to continue from still describes the table; False if it does not."""
    stored = AuditEvent.objects.filter(seq=since.seq).first()
    count = AuditEvent.objects.filter(seq__lte=since.seq).count()
    if since.seq and stored is None:
        report.problems.append(
            f"row {since.seq}, recorded by the checkpoint of {since.at}, is missing (deleted)"
        )
    elif stored is not None and (stored.hash != since.hash or _recomputed(stored) != since.hash):
        report.problems.append(
            f"row {since.seq} differs from the checkpoint of {since.at} (chain rewritten)"
        )
    if count != since.count:
        report.problems.append(
            f"the chain holds {count} rows up to row {since.seq} but the checkpoint of "
            f"{since.at} recorded {since.count} (rows deleted)"
        )
    return report.ok


def verify_chain(
    *,
    batch: int = 2000,
    checkpoints: Sequence[Checkpoint] = (),
    since: Checkpoint | None = None,
) -> ChainReport:
    """Recompute the chain from its start, or only past ``since`` (a trusted checkpoint), and
    compare it with the recorded end and with every checkpoint given."""
    report = ChainReport()
    # The head is read first: rows appended while the walk runs lie beyond it, which is fine.
    head = AuditHead.objects.filter(pk=1).first()
    expected_seq, prev_hash, earlier_rows = 1, GENESIS_HASH, 0
    if since is not None:
        if not _anchor(report, since):
            return report
        expected_seq, prev_hash, earlier_rows = since.seq + 1, since.hash, since.count
    pinned = {checkpoint.seq: checkpoint for checkpoint in checkpoints}
    matched: set[int] = set()
    hash_at_head = since.hash if since is not None and head and head.seq == since.seq else None
    for event in _rows(batch, after=expected_seq - 1):
        report.checked += 1
        if event.seq != expected_seq:
            report.problems.append(
                f"rows {expected_seq}..{event.seq - 1} are missing (deleted from the chain)"
            )
        if event.prev_hash != prev_hash:
            report.problems.append(f"row {event.seq}: link to the previous row is broken")
        if _recomputed(event) != event.hash:
            report.problems.append(f"row {event.seq}: content does not match its hash (edited)")
        checkpoint = pinned.get(event.seq)
        if checkpoint is not None:
            matched.add(event.seq)
            if checkpoint.hash != event.hash:
                report.problems.append(
                    f"row {event.seq} differs from the checkpoint of {checkpoint.at} "
                    "(chain rewritten)"
                )
        if head is not None and event.seq == head.seq:
            hash_at_head = event.hash
        prev_hash = event.hash
        expected_seq = event.seq + 1
    report.last_seq, report.last_hash = expected_seq - 1, prev_hash
    report.rows = earlier_rows + report.checked
    _compare_checkpoints(report, checkpoints, matched)
    if head is None:
        if report.rows:
            report.problems.append("the record of the chain's end is missing (deleted)")
    elif head.seq > report.last_seq:
        report.problems.append(
            f"the chain should end at row {head.seq} but ends at row {report.last_seq} "
            "(latest rows deleted)"
        )
    elif hash_at_head != head.hash:
        report.problems.append("the last row does not match the recorded end of the chain")
    return report


def _compare_checkpoints(
    report: ChainReport, checkpoints: Sequence[Checkpoint], matched: set[int]
) -> None:
    lost = [c for c in checkpoints if c.seq and c.seq not in matched]
    if lost:
        latest = lost[-1]
        more = f"; so are the rows of {len(lost) - 1} earlier checkpoints" if len(lost) > 1 else ""
        report.problems.append(
            f"row {latest.seq}, recorded by the checkpoint of {latest.at}, is missing "
            f"(deleted){more}"
        )
    if checkpoints and report.rows < checkpoints[-1].count:
        latest = checkpoints[-1]
        report.problems.append(
            f"the chain holds {report.rows} rows but the checkpoint of {latest.at} recorded "
            f"{latest.count} (rows deleted or table truncated)"
        )


def sign_checkpoint(report: ChainReport, path: Path) -> str:
    """Record the end of a chain just verified intact; the sentence says what happened."""
    checkpoint = checkpoints.make(seq=report.last_seq, hash=report.last_hash, count=report.rows)
    if checkpoints.append(checkpoint, path):
        return f"checkpoint signed at row {checkpoint.seq} in {path}"
    return f"{path} already holds a checkpoint at row {checkpoint.seq} or later"
