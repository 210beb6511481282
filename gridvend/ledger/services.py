"""Posting journal entries: the only way money moves in gridvend's books."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from gridvend.identity.models import User
from gridvend.kernel.ledger import JournalDraft, UnbalancedJournal
from gridvend.ledger.models import Account, AccountKind, JournalEntry, Posting

# Account codes used across gridvend; per-owner accounts add ":<owner code>".
ENERGY_REVENUE = "revenue:energy"
FIXED_CHARGE_REVENUE = "revenue:fixed-charges"
ARREARS_INCOME = "revenue:arrears-raised"
TAX_PAYABLE = "tax"
FBE_EXPENSE = "expense:fbe"
SUSPENSE = "suspense"

_KIND_BY_PREFIX = {
    "cash": AccountKind.ASSET,
    "till": AccountKind.ASSET,
    "bank": AccountKind.ASSET,
    "float": AccountKind.LIABILITY,
    "wallet": AccountKind.LIABILITY,
    "debt": AccountKind.ASSET,
    "revenue": AccountKind.REVENUE,
    "tax": AccountKind.LIABILITY,
    "expense": AccountKind.EXPENSE,
    "suspense": AccountKind.ASSET,
}


def kind_for(code: str) -> str:
    return _KIND_BY_PREFIX.get(code.split(":", 1)[0], AccountKind.ASSET)


def ensure_ledger_account(code: str, currency: str, name: str = "") -> Account:
    """The account with this code, created on first use (codes are stable identifiers)."""
    account = Account.objects.filter(code=code).first()
    if account is None:
        account, _created = Account.objects.get_or_create(
            code=code,
            defaults={"name": name or code, "kind": kind_for(code), "currency": currency},
        )
    if account.currency != currency:
        raise UnbalancedJournal(f"account {code} is kept in {account.currency}, not {currency}")
    return account


def _accounts(currencies: dict[str, str]) -> dict[str, Account]:
    """The accounts for these codes in one query, creating any that are new."""
    found = {a.code: a for a in Account.objects.filter(code__in=list(currencies))}
    for code in sorted(set(currencies) - set(found)):
        found[code] = ensure_ledger_account(code, currencies[code])
    for code, account in found.items():
        if account.currency != currencies[code]:
            raise UnbalancedJournal(
                f"account {code} is kept in {account.currency}, not {currencies[code]}"
            )
    return found


def post_journal_entry(
    draft: JournalDraft,
    *,
    kind: str,
    business_date: date,
    actor: User | None,
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Write a balanced draft as one entry and move cached balances, in the caller's transaction.

    Not a use case and never durable: a posting is always one step of a caller's use case (a
    sale, a reversal, a debt, a float top-up) and commits or fails with it, whole. So it opens
    no transaction of its own and refuses to run outside one.
    Account rows are updated in code order so concurrent entries never deadlock on them.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a journal entry is posted inside its use case's transaction")
    draft.assert_balanced()
    # No savepoint: a failed entry fails its caller's use case too.
    with transaction.atomic(savepoint=False):
        entry = JournalEntry.objects.create(
            business_date=business_date,
            kind=kind,
            memo=draft.memo[:255],
            reverses=reverses,
            created_by=actor,
        )
        per_account: dict[str, int] = defaultdict(int)
        currencies: dict[str, str] = {}
        for posting in draft.postings:
            per_account[posting.account_code] += posting.amount.minor
            currencies[posting.account_code] = posting.amount.currency
        accounts = _accounts(currencies)
        Posting.objects.bulk_create(
            [
                Posting(
                    entry=entry,
                    account=accounts[p.account_code],
                    amount_minor=p.amount.minor,
                    currency=p.amount.currency,
                )
                for p in draft.postings
            ]
        )
        for code in sorted(per_account):
            if per_account[code]:
                Account.objects.filter(pk=accounts[code].pk).update(
                    balance_minor=F("balance_minor") + per_account[code]
                )
    return entry


def reverse_journal_entry(
    entry: JournalEntry, *, actor: User, business_date: date, memo: str
) -> JournalEntry:
    """A new entry with every posting negated, pointing at the original (nothing is edited).

    Like :func:`post_journal_entry`, a step of the caller's use case, inside its transaction.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a journal entry is reversed inside its use case's transaction")
    from gridvend.kernel.ledger import Posting as DraftPosting
    from gridvend.kernel.money import Money

    postings = [
        DraftPosting(p.account.code, Money(-p.amount_minor, p.currency))
        for p in entry.postings.select_related("account")
    ]
    return post_journal_entry(
        JournalDraft(tuple(postings), memo),
        kind=f"{entry.kind}.reversal",
        business_date=business_date,
        actor=actor,
        reverses=entry,
    )


def today() -> date:
    return timezone.localdate()
