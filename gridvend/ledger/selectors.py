"""Reads of the books: an account's balance, kept balances against their postings, and entries
that do not balance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Sum

from gridvend.ledger.models import Account, Posting


@dataclass(frozen=True)
class Mismatch:
    code: str
    kept_minor: int
    posted_minor: int


def account_balance(account: Account | str) -> int:
    """An account's balance in minor units (debits positive): the kept balance of a float or a
    wallet, as its row holds it; for any other account the sum of its postings, read now. An
    account code never used has a balance of 0."""
    if isinstance(account, str):
        found = Account.objects.filter(code=account).values_list("pk", "balance_minor").first()
        if found is None:
            return 0
        pk, kept = found
    else:
        pk, kept = account.pk, account.balance_minor
    if kept is not None:
        return kept
    total = Posting.objects.filter(account_id=pk).aggregate(total=Sum("amount_minor"))["total"]
    return int(total or 0)


def reconcile_balances(codes: Iterable[str] | None = None) -> list[Mismatch]:
    """Compare every kept balance with the sum of its postings (the other accounts keep none:
    their balance is that sum)."""
    accounts = Account.objects.filter(balance_minor__isnull=False)
    if codes is not None:
        accounts = accounts.filter(code__in=list(codes))
    sums = dict(
        Posting.objects.filter(account__in=accounts)
        .values_list("account_id")
        .annotate(total=Sum("amount_minor"))
        .values_list("account_id", "total")
    )
    mismatches = []
    for account in accounts.order_by("code"):
        posted = int(sums.get(account.pk) or 0)
        if posted != account.balance_minor:
            mismatches.append(Mismatch(account.code, int(account.balance_minor or 0), posted))
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
