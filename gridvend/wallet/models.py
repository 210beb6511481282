"""A customer's prepaid wallet (one ledger account each, ``wallet:<account number>``), every
top-up that credited it, card payments through a provider's hosted page, and bank-transfer
lines imported from a statement (matched by the wallet's reference, or waiting for review)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.customers.models import Customer
from gridvend.ledger.models import Account, JournalEntry
from gridvend.meters.models import Meter


class Wallet(models.Model):
    """The balance is the ledger account's kept balance, negated (the wallet is what the
    utility owes the customer: a liability, negative while it holds money); nothing here keeps
    a second copy of it. ``reference`` is what a customer writes on a bank transfer or types as
    the M-Pesa account: W, eight characters and a check character."""

    customer = models.OneToOneField(Customer, on_delete=models.PROTECT, related_name="wallet")
    reference = models.CharField(max_length=12, unique=True)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="wallet")
    currency = models.CharField(max_length=3)
    # Auto-purchase: when a top-up leaves the balance at or above the threshold, a sale of
    # ``auto_amount_minor`` for ``auto_meter`` is made from it (a job, after the top-up commits).
    auto_meter = models.ForeignKey(
        Meter, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    auto_threshold_minor = models.BigIntegerField(null=True, blank=True)
    auto_amount_minor = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["reference"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(
                        auto_meter__isnull=True,
                        auto_threshold_minor__isnull=True,
                        auto_amount_minor__isnull=True,
                    )
                    | models.Q(
                        auto_meter__isnull=False,
                        auto_threshold_minor__gt=0,
                        auto_amount_minor__gt=0,
                    )
                ),
                name="wallet_auto_purchase_whole",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def audit_org_path(self) -> str:
        return self.customer.org_unit.path


class TopUpSource(models.TextChoices):
    CASH = "cash", _("Cash at an office")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    MOBILE_MONEY = "mobile_money", _("Mobile money")
    CARD = "card", _("Card or online payment")


# A source reference is the source's own reference under its place's code: a till's code (40)
# and a 64-character receipt, a provider's code (30) and its 64-character reference. Stored
# whole: cutting it would make two different payments one (and the second never credited).
SOURCE_REFERENCE_MAX = 120


class WalletTopUp(models.Model):
    """Money into a wallet: one journal entry (the source's account against the wallet's),
    once per (source, source reference): a receipt number, a bank reference, an M-Pesa
    transaction id or a card provider's payment reference, each whole (never cut)."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="top_ups")
    source = models.CharField(max_length=14, choices=TopUpSource.choices)
    source_reference = models.CharField(max_length=SOURCE_REFERENCE_MAX)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    journal_entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="wallet_top_up"
    )
    vending_point = models.ForeignKey(
        "org.VendingPoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Cash taken by a cashier: in that shift's drawer (vending.selectors.expected_takings).
    shift = models.ForeignKey(
        "vending.Shift",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wallet_top_ups",
    )
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    business_date = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_reference"], name="wallet_top_up_once_per_reference"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="wallet_top_up_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.source_reference}"

    @property
    def audit_org_path(self) -> str:
        return self.wallet.customer.org_unit.path


class CardPaymentState(models.TextChoices):
    CREATED = "created", _("Waiting for the customer to pay")
    PAID = "paid", _("Paid")
    FAILED = "failed", _("Failed or cancelled")


class CardPayment(models.Model):
    """A payment started on a card provider's hosted page. ``reference`` is ours (sent to the
    provider and signed back); ``provider_reference`` the provider's, unique per provider:
    a callback or return naming it a second time changes nothing."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="card_payments")
    provider = models.CharField(max_length=30)
    reference = models.CharField(max_length=24, unique=True)
    provider_reference = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    state = models.CharField(
        max_length=8, choices=CardPaymentState.choices, default=CardPaymentState.CREATED
    )
    top_up = models.OneToOneField(
        WalletTopUp, null=True, blank=True, on_delete=models.PROTECT, related_name="card_payment"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_reference"], name="card_payment_provider_once"
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def audit_org_path(self) -> str:
        return self.wallet.customer.org_unit.path


class TransferState(models.TextChoices):
    MATCHED = "matched", _("Credited to a wallet")
    UNMATCHED = "unmatched", _("No wallet found: waiting for review")


class BankTransfer(models.Model):
    """One credit line of a bank statement imported for wallets, once per bank reference:
    credited to the wallet its narrative names, or kept for review (and credited later by hand
    to the wallet a person chooses)."""

    bank_reference = models.CharField(max_length=64, unique=True)
    narrative = models.CharField(max_length=140, blank=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    value_date = models.DateField()
    state = models.CharField(max_length=10, choices=TransferState.choices)
    top_up = models.OneToOneField(
        WalletTopUp,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bank_transfer",
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-value_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="bank_transfer_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.bank_reference
