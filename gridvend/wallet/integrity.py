"""Tamper evidence of wallet top-ups: each top-up's audit event carries digests of its row and
of its journal postings; the wallets' reconciliation check (`gridvend ledger reconcile`,
`gridvend verify`) recomputes them, so a top-up edited, written outside gridvend, or whose
postings were changed is reported."""

from __future__ import annotations

from collections.abc import Iterable

from gridvend.audit.digests import row_digest
from gridvend.audit.models import AuditEvent
from gridvend.ledger.digests import JournalLine, journal_digest, posted_lines
from gridvend.wallet.events import WalletEvent
from gridvend.wallet.models import WalletTopUp

TOP_UP_FIELDS = (
    "wallet_id",
    "source",
    "source_reference",
    "amount_minor",
    "currency",
    "journal_entry_id",
    "shift_id",
    "created_at",
)
TARGET = "wallet.wallettopup"
BATCH = 1000


def top_up_binding(top_up: WalletTopUp, lines: Iterable[JournalLine]) -> dict[str, str]:
    """What a top-up's event records about it (written with the top-up)."""
    return {
        "top_up": row_digest(top_up, TOP_UP_FIELDS),
        "journal": journal_digest(top_up.journal_entry_id, lines),
    }


def top_up_findings() -> list[str]:
    problems: list[str] = []
    last = 0
    while True:
        rows = list(WalletTopUp.objects.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not rows:
            return problems
        last = rows[-1].pk
        events: dict[str, AuditEvent] = {}
        for found in AuditEvent.objects.filter(
            target_type=TARGET,
            target_id__in=[str(r.pk) for r in rows],
            event_type=WalletEvent.TOPPED_UP,
        ).order_by("id"):
            events.setdefault(found.target_id, found)
        lines = posted_lines([r.journal_entry_id for r in rows])
        for row in rows:
            label = f"wallet top-up {row.source} {row.source_reference} (id {row.pk})"
            event = events.get(str(row.pk))
            after = event.after if event is not None and isinstance(event.after, dict) else {}
            digests = after.get("digests")
            if event is None or not isinstance(digests, dict):
                problems.append(f"{label} has no audit event (written outside gridvend)")
                continue
            stored = top_up_binding(row, lines.get(row.journal_entry_id, []))
            if digests.get("top_up") != stored["top_up"]:
                problems.append(f"{label} differs from what audit event #{event.pk} recorded")
            if digests.get("journal") != stored["journal"]:
                problems.append(
                    f"{label}: its postings differ from what audit event #{event.pk} recorded"
                )
