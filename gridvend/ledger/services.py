"""Posting journal entries: the only way money moves in gridvend's books."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from gridvend import rows
from gridvend.identity.models import User
from gridvend.kernel.ledger import JournalDraft, UnbalancedJournal
from gridvend.kernel.money import Money
from gridvend.ledger import triggers
from gridvend.ledger.errors import BalanceLimitReached
from gridvend.ledger.models import Account, AccountKind, JournalEntry, Posting

# Account codes used across gridvend; per-owner accounts add ":<owner code>".
ENERGY_REVENUE = "revenue:energy"
FIXED_CHARGE_REVENUE = "revenue:fixed-charges"
ARREARS_INCOME = "revenue:arrears-raised"
TAX_PAYABLE = "tax"
FBE_EXPENSE = "expense:fbe"
SUSPENSE = "suspense"
# Postpaid billing: a customer's bills and payments ("receivable:<account>"), late-payment fees.
RECEIVABLE = "receivable"
LATE_FEE_REVENUE = "revenue:late-fees"

_KIND_BY_PREFIX = {
    "cash": AccountKind.ASSET,
    "till": AccountKind.ASSET,
    "bank": AccountKind.ASSET,
    "float": AccountKind.LIABILITY,
    "wallet": AccountKind.LIABILITY,
    "debt": AccountKind.ASSET,
    "receivable": AccountKind.ASSET,
    "revenue": AccountKind.REVENUE,
    "tax": AccountKind.LIABILITY,
    "expense": AccountKind.EXPENSE,
    "suspense": AccountKind.ASSET,
    # Mobile money: the money at a provider's paybill not yet settled, and what it owes
    # customers while their payment waits in suspense (sold to the right meter or refunded).
    "mobile-clearing": AccountKind.ASSET,
    "mobile-suspense": AccountKind.LIABILITY,
    # Handheld terminals: the cash a field agent holds, collected or taken for sales and not yet
    # handed in at the office, and what the office's counts found short (or over) against it.
    "transit": AccountKind.ASSET,
    "cash-difference": AccountKind.ASSET,
}


# Accounts whose balance a sale decides on: the database keeps theirs (``ledger.triggers``).
# An agent's cash in transit keeps one too: its limit is the agent's cash limit, which the
# database holds under the account row's lock however many terminals post at once.
_KEPT_PREFIXES = frozenset({"float", "wallet", "transit"})


def cash_in_transit_code(agent_id: int) -> str:
    """The ledger account of the cash a field agent holds (docs/terminals.md)."""
    return f"transit:agent:{agent_id}"


# The entry that clears an agent's cash in transit to the office's cash at a hand-in.
CASH_HANDED_IN_KIND = "cash.handed_in"
_TRANSIT_AGENT = "transit:agent:"


def office_cash_code(unit_code: str) -> str:
    """The cash a service centre's office holds (what it counted at a hand-in)."""
    return f"cash:office:{unit_code}"


def transit_agent_id(code: str) -> int | None:
    """The agent whose cash in transit ``code`` is, or None for any other account."""
    if not code.startswith(_TRANSIT_AGENT):
        return None
    rest = code[len(_TRANSIT_AGENT) :]
    return int(rest) if rest.isdigit() else None


def handed_in_since(account: Account, entry: JournalEntry) -> bool:
    """Whether an agent's cash in transit (``account``) was handed in after ``entry`` posted to
    it: the cash ``entry`` brought is at the office now, not with the agent. Read under the
    account row's lock (the hand-in's), so a hand-in committing meanwhile is seen."""
    return Posting.objects.filter(
        account=account, entry__kind=CASH_HANDED_IN_KIND, entry_id__gt=entry.pk
    ).exists()


def cash_difference_code(agent_id: int) -> str:
    """Where the office's count of an agent's hand-in differs from what the agent held: a
    shortage is a debit (owed by the agent), an overage a credit."""
    return f"cash-difference:agent:{agent_id}"


def kind_for(code: str) -> str:
    return _KIND_BY_PREFIX.get(code.split(":", 1)[0], AccountKind.ASSET)


def keeps_balance(code: str) -> bool:
    """Whether an account with this code keeps its balance (and a limit) in its row."""
    return code.split(":", 1)[0] in _KEPT_PREFIXES


def _default_limit(code: str) -> int:
    """A new kept account's limit: a field agent's cash in transit starts at the configured
    cash limit (GRIDVEND_TERMINALS_CASH_LIMIT_MINOR; the back office sets the agent's own),
    every other at 0 (no credit)."""
    if code.split(":", 1)[0] == "transit":
        return int(settings.TERMINALS_CASH_LIMIT_MINOR)
    return 0


def ensure_ledger_account(code: str, currency: str, name: str = "") -> Account:
    """The account with this code, created on first use (codes are stable identifiers)."""
    account = Account.objects.filter(code=code).first()
    if account is None:
        account, _created = Account.objects.get_or_create(
            code=code,
            defaults={
                "name": name or code,
                "kind": kind_for(code),
                "currency": currency,
                "balance_minor": 0 if keeps_balance(code) else None,
                "limit_minor": _default_limit(code),
            },
        )
    if account.currency != currency:
        raise UnbalancedJournal(f"account {code} is kept in {account.currency}, not {currency}")
    return account


def set_credit_limit(code: str, limit: Money) -> Account:
    """Let a kept-balance account (a partner's float) be drawn ``limit`` beyond zero: its credit
    line. In the caller's transaction, which records why (the partner's audited change)."""
    if not keeps_balance(code):
        raise UnbalancedJournal(f"account {code} keeps no balance, so it has no limit")
    if limit.minor < 0:
        raise UnbalancedJournal(f"a credit limit cannot be negative ({limit})")
    account = ensure_ledger_account(code, limit.currency)
    Account.objects.filter(pk=account.pk).update(limit_minor=limit.minor)
    account.limit_minor = limit.minor
    return account


# One posting line as the INSERT takes it: its place in the draft, account code, amount, currency.
_Line = tuple[int, str, int, str]


def _insert_postings(entry_id: int, lines: list[_Line]) -> int:
    """Insert these postings in one statement, each account found by its code and currency;
    returns how many went in (a line whose account is missing or kept in another currency
    does not). Rows go in account-code order, so two entries that raise the same kept balances
    lock their rows in one order and never deadlock."""
    # Casts give the VALUES columns their types on PostgreSQL whatever the parameter binding.
    row = (
        "(CAST(%s AS integer), CAST(%s AS varchar(80)), CAST(%s AS bigint), CAST(%s AS varchar(3)))"
    )
    # Only placeholders are joined into the statement; every value is a parameter.
    sql = " ".join(
        (
            "INSERT INTO ledger_posting (entry_id, account_id, amount_minor, currency)",
            "SELECT CAST(%s AS bigint), a.id, v.column3, v.column4",
            "FROM (VALUES",
            ", ".join([row] * len(lines)),
            ") AS v JOIN ledger_account a ON a.code = v.column2 AND a.currency = v.column4",
            "ORDER BY a.code, v.column1",
        )
    )
    params: list[int | str] = [entry_id]
    for line in lines:
        params.extend(line)
    with rows.cursor() as cursor:
        try:
            cursor.execute(sql, params)
        except DatabaseError as exc:
            account = triggers.limit_refusal(connection, exc)
            if account is None:
                raise
            raise BalanceLimitReached(account=account or _refused_account(lines)) from exc
        return int(cursor.rowcount)


def _refused_account(lines: list[_Line]) -> str:
    """The account SQLite's fixed refusal was about: the first line, in the INSERT's order,
    that takes a kept balance above its limit (the refused statement left every balance as it
    was, and SQLite runs one writer at a time, so the balances read now are the ones it saw)."""
    rows = list(
        Account.objects.filter(
            code__in={line[1] for line in lines}, balance_minor__isnull=False
        ).values_list("code", "balance_minor", "limit_minor")
    )
    balances = {code: int(balance or 0) for code, balance, _limit in rows}
    limits = {code: limit for code, _balance, limit in rows}
    for _n, code, amount, _currency in sorted(lines, key=lambda line: (line[1], line[0])):
        if code in balances:
            balances[code] += amount
            if amount > 0 and balances[code] > limits[code]:
                return code
    return ""


def _insert_with_new_accounts(entry_id: int, lines: list[_Line]) -> None:
    """The slow path, once per new account: the lines the INSERT left out create their account
    and go in; one whose account is kept in another currency refuses the entry. What went in is
    read back rather than guessed from the accounts now there, which a concurrent first use of
    the same code may just have created."""
    went_in = set(
        Posting.objects.filter(entry_id=entry_id).values_list("account__code", "currency")
    )
    left_out = [line for line in lines if (line[1], line[3]) not in went_in]
    for code, currency in sorted({(line[1], line[3]) for line in left_out}):
        ensure_ledger_account(code, currency)
    if _insert_postings(entry_id, left_out) != len(left_out):
        raise RuntimeError("postings for accounts just created did not go in")


def post_journal_entry(
    draft: JournalDraft,
    *,
    kind: str,
    business_date: date,
    actor: User | None,
    reverses: JournalEntry | None = None,
    before_postings: Callable[[JournalEntry], None] | None = None,
) -> JournalEntry:
    """Write a balanced draft as one entry with its postings, in the caller's transaction.

    ``before_postings``: writes the caller's rows that refer to the entry (a sale) between the
    entry and its postings, so that a posting to a kept balance, which locks that account's row
    until commit, is the caller's last write but its audit event.

    Not a use case and never durable: a posting is always one step of a caller's use case (a
    sale, a reversal, a debt, a float top-up) and commits or fails with it, whole. So it opens
    no transaction of its own and refuses to run outside one.

    Two statements when every account exists: the entry, then all its postings (accounts
    resolved by code in SQL). The database moves the kept balances (``ledger.triggers``) and
    refuses a posting that raises one above its limit: ``BalanceLimitReached``, naming the
    account (a sale beyond its float). Other accounts' rows are not touched.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a journal entry is posted inside its use case's transaction")
    draft.assert_balanced()
    # No savepoint: a failed entry fails its caller's use case too.
    with transaction.atomic(savepoint=False):
        entry = JournalEntry(
            business_date=business_date,
            kind=kind,
            memo=draft.memo[:255],
            reverses=reverses,
            created_by=actor,
        )
        rows.insert([entry])
        if before_postings is not None:
            before_postings(entry)
        lines = [
            (n, p.account_code, p.amount.minor, p.amount.currency)
            for n, p in enumerate(draft.postings)
        ]
        if lines and _insert_postings(entry.pk, lines) != len(lines):
            _insert_with_new_accounts(entry.pk, lines)
    return entry


# One entry of a batch: the draft, its business day and who posted it.
EntryDraft = tuple[JournalDraft, date, User | None]


def post_journal_entries(
    drafts: list[EntryDraft],
    *,
    kind: str,
    before_postings: Callable[[list[JournalEntry]], None] | None = None,
) -> list[JournalEntry]:
    """:func:`post_journal_entry` for many balanced drafts at once (an offline station's batch
    of sales): the entries in as few statements as the database takes, ``before_postings``
    with all of them, then every posting of every entry in as few statements again. Each entry
    is the one :func:`post_journal_entry` writes for its draft; the database's guards are the
    same (balanced entries, kept balances and their limits, moved by its trigger per posting).
    Accounts used for the first time are created first, in code order, before anything is
    inserted; one kept in another currency refuses the whole batch."""
    if not connection.in_atomic_block:
        raise RuntimeError("journal entries are posted inside their use case's transaction")
    for draft, _day, _actor in drafts:
        draft.assert_balanced()
    with transaction.atomic(savepoint=False):
        wanted = sorted(
            {(p.account_code, p.amount.currency) for d, _day, _a in drafts for p in d.postings}
        )
        known = {
            (code, currency)
            for code, currency in Account.objects.filter(
                code__in={code for code, _c in wanted}
            ).values_list("code", "currency")
        }
        for code, currency in wanted:
            if (code, currency) not in known:
                ensure_ledger_account(code, currency)
        entries = [
            JournalEntry(
                business_date=day, kind=kind, memo=draft.memo[:255], reverses=None, created_by=actor
            )
            for draft, day, actor in drafts
        ]
        rows.insert_many(entries)
        if before_postings is not None:
            before_postings(entries)
        lines = [
            (entry.pk, n, p.account_code, p.amount.minor, p.amount.currency)
            for entry, (draft, _day, _actor) in zip(entries, drafts, strict=True)
            for n, p in enumerate(draft.postings)
        ]
        # Small enough for SQLite's and PostgreSQL's parameter limits (5 a line).
        size = 2_000
        went_in = sum(
            _insert_posting_rows(lines[first : first + size])
            for first in range(0, len(lines), size)
        )
        if went_in != len(lines):
            raise UnbalancedJournal("a posting's account is kept in another currency")
    return entries


def _insert_posting_rows(lines: list[tuple[int, int, str, int, str]]) -> int:
    """:func:`_insert_postings` for the lines of many entries (entry id, place in its draft,
    account code, amount, currency), in one statement. Rows go in account-code order, then
    entry and place, as one entry's do."""
    if not lines:
        return 0
    row = (
        "(CAST(%s AS bigint), CAST(%s AS integer), CAST(%s AS varchar(80)), "
        "CAST(%s AS bigint), CAST(%s AS varchar(3)))"
    )
    # Only placeholders are joined into the statement; every value is a parameter.
    sql = " ".join(
        (
            "INSERT INTO ledger_posting (entry_id, account_id, amount_minor, currency)",
            "SELECT v.column1, a.id, v.column4, v.column5",
            "FROM (VALUES",
            ", ".join([row] * len(lines)),
            ") AS v JOIN ledger_account a ON a.code = v.column3 AND a.currency = v.column5",
            "ORDER BY a.code, v.column1, v.column2",
        )
    )
    params: list[int | str] = [value for line in lines for value in line]
    with rows.bulk_cursor() as cursor:
        try:
            cursor.execute(rows.bulk_sql(sql), params)
        except DatabaseError as exc:
            account = triggers.limit_refusal(connection, exc)
            if account is None:
                raise
            refused = [(n, code, amount, cur) for _e, n, code, amount, cur in lines]
            raise BalanceLimitReached(account=account or _refused_account(refused)) from exc
        return int(cursor.rowcount)


def handed_in_substitutes(entry: JournalEntry) -> dict[str, str]:
    """For reversing ``entry``: each field agent's cash-in-transit account it posted to whose
    cash was handed in since, mapped to the office's cash account that took it in (the agent no
    longer holds it, so the money goes back from the office, never taking the agent's below
    zero). Locks those accounts' rows (after the caller's own locks, as a collection takes them:
    the hand-in takes the same row lock, so a reversal and a hand-in never cross)."""
    codes = sorted(
        {
            code
            for code in entry.postings.values_list("account__code", flat=True)
            if transit_agent_id(code) is not None
        }
    )
    substitute: dict[str, str] = {}
    for account in Account.objects.select_for_update().filter(code__in=codes).order_by("code"):
        agent_id = transit_agent_id(account.code)
        if agent_id is None or not handed_in_since(account, entry):
            continue
        agent = User.objects.select_related("org_unit").get(pk=agent_id)
        substitute[account.code] = office_cash_code(agent.org_unit.code)
    return substitute


def reverse_journal_entry(
    entry: JournalEntry,
    *,
    actor: User,
    business_date: date,
    memo: str,
    substitute: dict[str, str] | None = None,
) -> JournalEntry:
    """A new entry with every posting negated, pointing at the original (nothing is edited).
    ``substitute``: accounts whose negated posting goes to another account instead (the
    office's cash for an agent's collection whose cash was handed in).

    Like :func:`post_journal_entry`, a step of the caller's use case, inside its transaction.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a journal entry is reversed inside its use case's transaction")
    from gridvend.kernel.ledger import Posting as DraftPosting
    from gridvend.kernel.money import Money

    postings = [
        DraftPosting(
            (substitute or {}).get(p.account.code, p.account.code),
            Money(-p.amount_minor, p.currency),
        )
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
