"""Walks the audit chain and reports every row that was edited, deleted or inserted out of order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from gridvend.audit.chain import GENESIS_HASH, compute_hash
from gridvend.audit.models import AuditEvent, AuditHead


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(batch: int) -> Iterator[AuditEvent]:
    last = 0
    while True:
        chunk = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:batch])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq


def verify_chain(*, batch: int = 2000) -> ChainReport:
    report = ChainReport()
    expected_seq = 1
    prev_hash = GENESIS_HASH
    for event in _rows(batch):
        report.checked += 1
        if event.seq != expected_seq:
            report.problems.append(
                f"rows {expected_seq}..{event.seq - 1} are missing (deleted from the chain)"
            )
        if event.prev_hash != prev_hash:
            report.problems.append(f"row {event.seq}: link to the previous row is broken")
        recomputed = compute_hash(
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
        if recomputed != event.hash:
            report.problems.append(f"row {event.seq}: content does not match its hash (edited)")
        prev_hash = event.hash
        expected_seq = event.seq + 1
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and head.seq != expected_seq - 1:
        report.problems.append(
            f"the chain should end at row {head.seq} but ends at row {expected_seq - 1} "
            "(latest rows deleted)"
        )
    elif head is not None and head.hash != prev_hash:
        report.problems.append("the last row does not match the recorded end of the chain")
    return report
