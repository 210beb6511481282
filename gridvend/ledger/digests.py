"""Digests of a journal entry's postings, for the audit event of whatever the entry records (a
sale, a reversal, a debt, a float top-up) to carry; `gridvend verify` compares them again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from gridvend.audit.digests import digest
from gridvend.kernel.ledger import JournalDraft
from gridvend.ledger.models import Posting

JournalLine = tuple[str, int, str]  # account code, amount in minor units, currency


def journal_digest(entry_id: int | None, lines: Iterable[JournalLine]) -> str:
    return digest({"entry": entry_id, "lines": sorted(list(line) for line in lines)})


def draft_lines(draft: JournalDraft) -> list[JournalLine]:
    """The lines of a draft just posted, as `posted_lines` will read them back."""
    return [(p.account_code, p.amount.minor, p.amount.currency) for p in draft.postings]


def posted_lines(entry_ids: Iterable[int]) -> dict[int, list[JournalLine]]:
    lines: dict[int, list[JournalLine]] = defaultdict(list)
    ids = [i for i in entry_ids if i is not None]
    if not ids:
        return lines
    for entry_id, code, amount, currency in Posting.objects.filter(entry_id__in=ids).values_list(
        "entry_id", "account__code", "amount_minor", "currency"
    ):
        lines[entry_id].append((code, amount, currency))
    return lines
