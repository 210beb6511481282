"""Crediting a wallet: one journal entry (the source's account against the wallet's account),
one WalletTopUp, one audit event, in one transaction; once per (source, source reference).
A top-up that leaves the balance at or above the auto-purchase threshold queues the purchase,
after commit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit import context as request_context
from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.jobs import queue
from gridvend.kernel.clock import business_date
from gridvend.kernel.inputs import clean_text
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import draft_lines
from gridvend.ledger.selectors import account_balance
from gridvend.org.models import VendingPointStatus
from gridvend.org.permissions import ip_allowed
from gridvend.vending.errors import VendingPointAddressRefused, VendingPointInactive
from gridvend.vending.locks import lock_shift_status
from gridvend.vending.models import ShiftStatus
from gridvend.vending.selectors import current_shift
from gridvend.wallet import permissions
from gridvend.wallet.errors import (
    WalletAmountInvalid,
    WalletReferenceReused,
    WalletShiftNotOpen,
)
from gridvend.wallet.events import WalletEvent
from gridvend.wallet.integrity import top_up_binding
from gridvend.wallet.models import SOURCE_REFERENCE_MAX, TopUpSource, Wallet, WalletTopUp

AUTO_PURCHASE_JOB = "gridvend.wallet.tasks.auto_purchase"


def check_amount(wallet: Wallet, amount: Money) -> Money:
    maximum = int(settings.WALLET_TOP_UP_MAX_MINOR)
    if amount.currency != wallet.currency or not 0 < amount.minor <= maximum:
        raise WalletAmountInvalid(maximum=str(Money(maximum, wallet.currency)))
    return amount


RECEIPT_MAX = 64


def clean_reference(raw: object, *, max_length: int = RECEIPT_MAX) -> str:
    """A reference from outside: blank, too long or not plain text is INVALID_INPUT (a claim
    about the input), never WALLET_REFERENCE_REUSED (a claim about another top-up)."""
    return clean_text(raw, max_length=max_length, field="reference", required=True)


def _same_or_refused(existing: WalletTopUp, wallet: Wallet, amount: Money) -> WalletTopUp:
    """A repeat of a top-up (a callback sent twice, a file imported twice) is answered with the
    first; the same reference for another wallet or amount is refused."""
    if existing.wallet_id != wallet.pk or existing.amount_minor != amount.minor:
        raise WalletReferenceReused(reference=existing.source_reference)
    return existing


def _book(
    *,
    actor: User | None,
    wallet: Wallet,
    amount: Money,
    source: str,
    reference: str,
    source_account: str,
    **fields: Any,
) -> WalletTopUp:
    """The body, in the caller's transaction: post and write, or return the first top-up of
    this reference. A concurrent top-up of the same reference loses the unique index in the
    savepoint and reads the winner."""
    existing = WalletTopUp.objects.filter(source=source, source_reference=reference).first()
    if existing is not None:
        return _same_or_refused(existing, wallet, amount)
    now = timezone.now()
    today = business_date(now, settings.TIME_ZONE)
    draft = journal(
        [Posting(source_account, amount), Posting(wallet.account.code, -amount)],
        memo=f"wallet {wallet.reference} top-up {source} {reference}",
    )
    holder: dict[str, WalletTopUp] = {}

    def write(entry: Any) -> None:
        holder["top_up"] = WalletTopUp.objects.create(
            wallet=wallet,
            source=source,
            source_reference=reference,
            amount_minor=amount.minor,
            currency=amount.currency,
            journal_entry=entry,
            received_by=actor,
            business_date=today,
            created_at=now,
            **fields,
        )

    try:
        with transaction.atomic():
            ledger.post_journal_entry(
                draft,
                kind="wallet.top_up",
                business_date=today,
                actor=actor,
                before_postings=write,
            )
    except IntegrityError:
        winner = WalletTopUp.objects.filter(source=source, source_reference=reference).first()
        if winner is None:
            raise
        return _same_or_refused(winner, wallet, amount)
    top_up = holder["top_up"]
    record(
        actor=actor,
        event_type=WalletEvent.TOPPED_UP,
        target=top_up,
        after={
            "wallet": wallet.reference,
            "source": source,
            "reference": reference,
            "amount_minor": amount.minor,
            "currency": amount.currency,
            # Binds the row and its postings to the chain: an edit later no longer matches
            # (checked by the wallets' reconciliation check, wallet.integrity).
            "digests": top_up_binding(top_up, draft_lines(draft)),
        },
    )
    _maybe_auto_purchase(wallet, top_up)
    return top_up


def _maybe_auto_purchase(wallet: Wallet, top_up: WalletTopUp) -> None:
    fresh = Wallet.objects.filter(pk=wallet.pk).values_list(
        "auto_meter_id", "auto_threshold_minor"
    )[0]
    meter_id, threshold = fresh
    if meter_id is None or threshold is None:
        return
    held = -account_balance(wallet.account.code)
    if held >= threshold:
        queue.enqueue_after_commit(
            AUTO_PURCHASE_JOB, wallet.pk, top_up.pk, key=f"wallet-auto-{top_up.pk}"
        )


def credit_wallet(
    *,
    actor: User | None,
    wallet: Wallet,
    amount: Money,
    source: str,
    source_reference: str,
    source_account: str,
    **fields: Any,
) -> WalletTopUp:
    """Credit ``wallet`` with money that came in through ``source_account`` (a bank, a paybill,
    a card acquirer): for the channels' own services (mobile money, card notices, transfers).
    Its own transaction, or a step of the caller's when one is open."""
    if source not in TopUpSource.values:
        raise ValueError(f"unknown top-up source {source}")
    check_amount(wallet, amount)
    reference = clean_reference(source_reference, max_length=SOURCE_REFERENCE_MAX)
    if transaction.get_connection().in_atomic_block:
        return _book(
            actor=actor,
            wallet=wallet,
            amount=amount,
            source=source,
            reference=reference,
            source_account=source_account,
            **fields,
        )
    with transaction.atomic(durable=True):
        return _book(
            actor=actor,
            wallet=wallet,
            amount=amount,
            source=source,
            reference=reference,
            source_account=source_account,
            **fields,
        )


def top_up_cash(*, actor: User, wallet: Wallet, amount: Money, receipt: str) -> WalletTopUp:
    """Cash a cashier takes into a wallet: into their open shift's drawer like a sale (the
    till's cash account, the shift's expected cash), under the shift's lock so that a close
    never misses it. ``receipt``: the request's own reference (a repeat returns the first)."""
    if not permissions.can_take_cash(actor):
        raise AccessDenied()
    try:
        require_unit_in_scope(actor, wallet.customer.org_unit)
    except AccessDenied:
        from gridvend.wallet.errors import WalletNotFound

        raise WalletNotFound(wallet=wallet.reference) from None
    check_amount(wallet, amount)
    reference = clean_reference(receipt)
    shift = current_shift(actor)
    if shift is None or shift.currency != wallet.currency:
        raise WalletShiftNotOpen()
    # The till's own rules, as for a sale: an active point, from an address it allows.
    point = shift.vending_point
    if point.status != VendingPointStatus.ACTIVE:
        raise VendingPointInactive(vending_point=point.code)
    if not ip_allowed(point, request_context.current().ip):
        raise VendingPointAddressRefused(vending_point=point.code)
    with transaction.atomic(durable=True):
        if lock_shift_status(shift.pk) != ShiftStatus.OPEN:
            raise WalletShiftNotOpen()
        return _book(
            actor=actor,
            wallet=wallet,
            amount=amount,
            source=TopUpSource.CASH,
            reference=f"{shift.vending_point.code}:{reference}",
            source_account=f"till:{shift.vending_point.code}:cash",
            vending_point=shift.vending_point,
            shift=shift,
        )
