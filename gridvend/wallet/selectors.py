"""Reads of wallets: the balance, a statement for a period, scoped lists for the staff screens,
and the reconciliation's check that every wallet ties to its ledger account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import QuerySet, Sum

from gridvend.customers.models import Customer
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope, scoped
from gridvend.kernel.money import Money
from gridvend.ledger.models import Posting
from gridvend.wallet import permissions
from gridvend.wallet.errors import WalletNotFound
from gridvend.wallet.models import BankTransfer, TransferState, Wallet, WalletTopUp

# A statement covers at most this many days (a bounded read).
MAX_STATEMENT_DAYS = 366


def balance(wallet: Wallet, *, fresh: bool = True) -> Money:
    """What the wallet holds now: its account's kept balance, negated (a liability).
    ``fresh=False``: as the account row was read with the wallet (a list of many)."""
    if fresh:
        wallet.account.refresh_from_db(fields=["balance_minor"])
    return Money(-int(wallet.account.balance_minor or 0), wallet.currency)


def wallet_of(customer: Customer) -> Wallet | None:
    return Wallet.objects.filter(customer=customer).select_related("account", "customer").first()


def _require_viewer(actor: User) -> None:
    if not permissions.can_view_wallets(actor):
        raise AccessDenied()


def list_wallets(actor: User) -> QuerySet[Wallet]:
    _require_viewer(actor)
    return scoped(
        Wallet.objects.select_related("customer", "account"),
        actor,
        path="customer__org_unit__path",
    ).order_by("customer__account_number")


def _wallet_in_scope(actor: User, reference: str) -> Wallet:
    """A wallet by its reference as people type it; out of the actor's scope reads as unknown."""
    wallet = (
        Wallet.objects.select_related("customer__org_unit", "account")
        .filter(reference=str(reference).strip().upper()[:12])
        .first()
    )
    if wallet is None:
        raise WalletNotFound(wallet=str(reference))
    try:
        require_unit_in_scope(actor, wallet.customer.org_unit)
    except AccessDenied:
        raise WalletNotFound(wallet=str(reference)) from None
    return wallet


def get_wallet(actor: User, reference: str) -> Wallet:
    """A wallet by its reference, in the actor's scope (out of scope reads as unknown)."""
    _require_viewer(actor)
    return _wallet_in_scope(actor, reference)


def unmatched_transfers(actor: User) -> QuerySet[BankTransfer]:
    """Transfers no wallet was found for: the review list (finance)."""
    if not permissions.can_import_transfers(actor):
        raise AccessDenied()
    return BankTransfer.objects.filter(state=TransferState.UNMATCHED).order_by("value_date", "id")


@dataclass(frozen=True)
class Movement:
    occurred_at: datetime
    kind: str  # the journal entry's kind: wallet.top_up, sale, sale.reversal...
    memo: str
    amount: Money  # into the wallet positive, out of it negative
    balance: Money  # after this movement


@dataclass(frozen=True)
class Statement:
    wallet: Wallet
    start: date
    end: date
    opening: Money
    closing: Money
    movements: list[Movement]


def statement(wallet: Wallet, *, start: date, end: date) -> Statement:
    """Every movement of the wallet from ``start`` to ``end`` (business days of the entries,
    inclusive, in the order they were posted), with
    the opening and closing balances, read from the postings themselves (not from the kept
    balance), so that the statement is what the books say."""
    if end < start or (end - start).days >= MAX_STATEMENT_DAYS:
        raise ValueError("a statement covers 1 to 366 days, start before end")
    postings = Posting.objects.filter(account_id=wallet.account_id)
    before = postings.filter(entry__business_date__lt=start).aggregate(total=Sum("amount_minor"))
    running = -int(before["total"] or 0)
    opening = Money(running, wallet.currency)
    movements = []
    for occurred_at, kind, memo, amount in (
        postings.filter(entry__business_date__gte=start, entry__business_date__lte=end)
        .order_by("entry__business_date", "entry_id", "id")
        .values_list("entry__occurred_at", "entry__kind", "entry__memo", "amount_minor")
    ):
        running -= amount
        movements.append(
            Movement(
                occurred_at,
                kind,
                memo,
                Money(-amount, wallet.currency),
                Money(running, wallet.currency),
            )
        )
    return Statement(wallet, start, end, opening, Money(running, wallet.currency), movements)


def wallet_findings() -> list[str]:
    """The reconciliation's check: each wallet's account is a wallet account of its customer
    and currency, and what its top-ups credited is what its account's postings from top-ups
    hold, to the cent (the kept balance itself is checked against all its postings by the
    ledger's own reconciliation); and each top-up matches the digests its audit event
    recorded (``wallet.integrity``)."""
    from gridvend.wallet.integrity import top_up_findings

    findings = top_up_findings()
    top_ups = dict(
        WalletTopUp.objects.values_list("wallet_id")
        .annotate(total=Sum("amount_minor"))
        .values_list("wallet_id", "total")
    )
    posted = dict(
        Posting.objects.filter(entry__wallet_top_up__isnull=False, account__wallet__isnull=False)
        .values_list("account__wallet__id")
        .annotate(total=Sum("amount_minor"))
        .values_list("account__wallet__id", "total")
    )
    for (
        wallet_id,
        reference,
        account_code,
        number,
        currency,
        account_currency,
    ) in Wallet.objects.values_list(
        "id",
        "reference",
        "account__code",
        "customer__account_number",
        "currency",
        "account__currency",
    ).order_by("id"):
        if account_code != f"wallet:{number}" or currency != account_currency:
            findings.append(f"wallet {reference} is kept in account {account_code}")
        credited = int(top_ups.get(wallet_id) or 0)
        booked = -int(posted.get(wallet_id) or 0)
        if credited != booked:
            findings.append(
                f"wallet {reference}: top-ups credit {credited}, their postings {booked}"
            )
    return findings


def find_customer_wallet(actor: User, text: str) -> tuple[Customer, Wallet | None]:
    """The customer a cashier means (a customer account number or a wallet reference, in the
    actor's scope) and their wallet if it is open yet."""
    from gridvend.customers.selectors import get_customer_by_account

    wanted = str(text).strip().upper()[:20]
    if wanted.startswith("W") and len(wanted) == 10:
        wallet = (
            Wallet.objects.select_related("customer__org_unit", "account")
            .filter(reference=wanted)
            .first()
        )
        if wallet is not None:
            try:
                require_unit_in_scope(actor, wallet.customer.org_unit)
            except AccessDenied:
                raise WalletNotFound(wallet=wanted) from None
            return wallet.customer, wallet
    customer = get_customer_by_account(actor, wanted)
    return customer, wallet_of(customer)


def get_top_up(actor: User, pk: int) -> WalletTopUp:
    """A top-up the actor's scope can read (a receipt); out of scope reads as unknown."""
    if not permissions.can_read_receipts(actor):
        raise AccessDenied()
    top_up = (
        WalletTopUp.objects.select_related("wallet__customer__org_unit", "vending_point")
        .filter(pk=pk)
        .first()
    )
    if top_up is None:
        raise WalletNotFound(wallet=str(pk))
    try:
        require_unit_in_scope(actor, top_up.wallet.customer.org_unit)
    except AccessDenied:
        raise WalletNotFound(wallet=str(pk)) from None
    return top_up


def get_wallet_for_credit(actor: User, reference: str) -> Wallet:
    """The wallet finance credits an unmatched transfer to, in its scope."""
    if not permissions.can_import_transfers(actor):
        raise AccessDenied()
    return _wallet_in_scope(actor, reference)
