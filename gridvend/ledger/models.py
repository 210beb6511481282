"""Double-entry books: accounts, journal entries and postings (append-only, balanced per entry)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccountKind(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    REVENUE = "revenue", _("Revenue")
    EXPENSE = "expense", _("Expense")
    EQUITY = "equity", _("Equity")


class Account(models.Model):
    """An account's balance is the sum of its postings (debits positive).

    ``balance_minor`` is kept (not NULL) only for accounts whose balance a sale decides on: the
    floats and the customers' wallets (``keeps_balance`` in ``ledger.services``). The database
    moves it at every posting (``ledger.triggers``) and refuses a posting that raises it above
    ``limit_minor``; reconciliation checks it. For every other account it is NULL and the
    balance is summed from the postings when asked (``ledger.selectors.account_balance``), so
    no sale writes, or waits for, a shared account row such as revenue or tax.
    """

    code = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=10, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    balance_minor = models.BigIntegerField(null=True, blank=True, default=None)
    # A kept balance may not rise above this through a posting that raises it. A float is a
    # liability (sales debit it): negative while money is held, so 0 means "no credit"; a
    # partner's credit line is a positive limit.
    limit_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class JournalEntry(models.Model):
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    business_date = models.DateField(db_index=True)
    kind = models.CharField(max_length=30)
    memo = models.CharField(max_length=255, blank=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"entry {self.pk} {self.kind}"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_minor=0), name="posting_amount_not_zero"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account.code} {self.amount_minor} {self.currency}"
