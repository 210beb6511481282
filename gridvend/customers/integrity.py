"""What a debt's opening event records about it: digests of the debt row and of the journal
entry that booked it. `gridvend verify` compares them again (gridvend.vending.integrity.books,
which also checks each debt's balance against the sales that recovered it)."""

from __future__ import annotations

from collections.abc import Iterable

from gridvend.audit.digests import row_digest
from gridvend.customers.events import CustomerEvent
from gridvend.customers.models import Debt
from gridvend.ledger.digests import JournalLine, journal_digest

DEBT_TARGET = "customers.debt"
OPENED_EVENT = CustomerEvent.DEBT_OPENED

# Every column but the balance, which sales move: it is checked against the original less what
# the completed sales that name the debt recovered from it (their digests bind those amounts).
DEBT_FIELDS = (
    "customer_id",
    "reason",
    "currency",
    "original_minor",
    "opened_by_id",
    "opened_at",
    "source",
    "journal_entry_id",
)


def debt_binding(debt: Debt, journal_lines: Iterable[JournalLine]) -> dict[str, str]:
    return {
        "debt": row_digest(debt, DEBT_FIELDS),
        "journal": journal_digest(debt.journal_entry_id, journal_lines),
    }
