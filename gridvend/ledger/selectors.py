"""Reads of the books: cached balances against their postings, and entries that do not balance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Sum

from gridvend.ledger.models import Account, Posting


@dataclass(frozen=True)
class Mismatch:
    code: str
    cached_minor: int
    posted_minor: int


def reconcile_balances(codes: Iterable[str] | None = None) -> list[Mismatch]:
    """Compare every cached balance with the sum of its postings."""
    sums = dict(
        Posting.objects.values_list("account_id")
        .annotate(total=Sum("amount_minor"))
        .values_list("account_id", "total")
    )
    accounts = Account.objects.all()
    if codes is not None:
        accounts = accounts.filter(code__in=list(codes))
    mismatches = []
    for account in accounts.order_by("code"):
        posted = int(sums.get(account.pk) or 0)
        if posted != account.balance_minor:
            mismatches.append(Mismatch(account.code, account.balance_minor, posted))
    return mismatches


def unbalanced_entries() -> list[int]:
    """Entries whose postings do not sum to zero per currency (the database forbids these on
    PostgreSQL; this catches them anywhere)."""
    rows = (
        Posting.objects.values("entry_id", "currency")
        .annotate(total=Sum("amount_minor"))
        .exclude(total=0)
        .values_list("entry_id", flat=True)
    )
    return sorted(set(rows))
