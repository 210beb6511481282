"""Opening a customer's wallet (its reference and its ledger account) and its auto-purchase."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction

from gridvend.audit.services import record
from gridvend.customers.models import Customer
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.meters.models import Meter
from gridvend.vending.services import wallet_account_code
from gridvend.wallet.errors import WalletAutoPurchaseInvalid
from gridvend.wallet.events import WalletEvent
from gridvend.wallet.models import Wallet

# 32 letters and digits that cannot be misread for each other (no I, O, 0, 1).
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def check_character(body: str) -> str:
    """A weighted sum mod 32 over the reference's body: one wrong or two swapped characters
    (the common slips when a reference is typed into a bank form) change it."""
    total = sum((i + 1) * ALPHABET.index(ch) for i, ch in enumerate(body))
    return ALPHABET[total % 32]


def new_reference() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return "W" + body + check_character(body)


def is_reference(text: str) -> bool:
    """Whether ``text`` has the shape of a wallet reference and its check character agrees."""
    if len(text) != 10 or text[0] != "W" or any(ch not in ALPHABET for ch in text[1:]):
        return False
    return check_character(text[1:9]) == text[9]


def _open(actor: User | None, customer: Customer) -> Wallet:
    existing = Wallet.objects.select_related("account").filter(customer=customer).first()
    if existing is not None:
        return existing
    currency = customer.tariff.currency
    account = ledger.ensure_ledger_account(
        wallet_account_code(customer.account_number),
        currency,
        name=f"Wallet of {customer.account_number}",
    )
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(
                customer=customer, reference=new_reference(), account=account, currency=currency
            )
            record(
                actor=actor,
                event_type=WalletEvent.OPENED,
                target=wallet,
                after={"reference": wallet.reference, "account": account.code},
            )
    except IntegrityError:
        # Opened meanwhile by someone else (or, once in 10^12, a reference drawn twice).
        found = Wallet.objects.select_related("account").filter(customer=customer).first()
        if found is None:
            raise
        return found
    return wallet


def open_wallet(*, actor: User | None, customer: Customer) -> Wallet:
    """The customer's wallet, opened on first use (one per customer; a repeat returns it).
    ``actor`` None: opened by the system for a channel (the portal's first top-up)."""
    if actor is not None:
        require_unit_in_scope(actor, customer.org_unit)
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic(durable=True):
            return _open(actor, customer)
    return _open(actor, customer)


def set_auto_purchase(
    *,
    actor: User | None,
    wallet: Wallet,
    meter: Meter | None,
    threshold: Money | None = None,
    amount: Money | None = None,
) -> Wallet:
    """Turn auto-purchase on (a meter of the wallet's customer, a threshold, an amount no larger
    than the threshold, in the wallet's currency) or off (``meter`` None)."""
    if meter is None:
        values: dict[str, object] = {
            "auto_meter": None,
            "auto_threshold_minor": None,
            "auto_amount_minor": None,
        }
    else:
        if (
            meter.customer_id != wallet.customer_id
            or threshold is None
            or amount is None
            or threshold.currency != wallet.currency
            or amount.currency != wallet.currency
            or not amount.is_positive()
            or amount > threshold
        ):
            raise WalletAutoPurchaseInvalid()
        values = {
            "auto_meter": meter,
            "auto_threshold_minor": threshold.minor,
            "auto_amount_minor": amount.minor,
        }
    with transaction.atomic(durable=True):
        Wallet.objects.filter(pk=wallet.pk).update(**values)
        record(
            actor=actor,
            event_type=WalletEvent.AUTO_PURCHASE_SET,
            target=wallet,
            after={
                "meter": meter.number if meter is not None else None,
                "threshold_minor": values["auto_threshold_minor"],
                "amount_minor": values["auto_amount_minor"],
            },
        )
    wallet.refresh_from_db()
    return wallet
