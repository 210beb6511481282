"""Sales and the tokens they issued; each sale is one idempotent, audited, journaled operation."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.approvals.models import DecisionRequest
from gridvend.approvals.models import RequestStatus as RequestStatus  # where callers import it
from gridvend.customers.models import Customer
from gridvend.ledger.models import JournalEntry
from gridvend.meters.models import Meter
from gridvend.org.models import Channel, VendingPoint
from gridvend.tariffs.models import TariffVersion


class ShiftStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


# Counter channels hand over cash, so their sales belong to a shift that is counted at the end.
SHIFT_CHANNELS = frozenset({Channel.PAY_OFFICE, Channel.AGENT, Channel.HANDHELD})
TENDER_TYPES = ("cash", "card", "cheque", "transfer", "mobile_money")

# Where the money of a reversed sale is handed back; each refund is in exactly one cash-up.
PAID_FROM_OWN_SHIFT = "own_shift"  # the sale's shift is still open: the sale is undone there
PAID_FROM_DRAWER = "drawer"  # the requester's open drawer (Reversal.refund_shift)
PAID_BY_BACK_OFFICE = "back_office"  # no open drawer: a BackOfficeRefund on the banking slip
PAID_THROUGH_CHANNEL = "channel"  # never in a drawer (float, mobile money): no cash moves here


class Shift(models.Model):
    """One operator's session at a vending point, closed with a cash count and a Z report."""

    vending_point = models.ForeignKey(VendingPoint, on_delete=models.PROTECT, related_name="shifts")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="shifts"
    )
    status = models.CharField(max_length=8, choices=ShiftStatus.choices, default=ShiftStatus.OPEN)
    currency = models.CharField(max_length=3)
    opening_float_minor = models.BigIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Per tender type ("cash", "card", ...): what the sales say should be there, what was counted.
    expected = models.JSONField(default=dict, blank=True)
    counted = models.JSONField(default=dict, blank=True)
    over_short_minor = models.BigIntegerField(default=0)
    close_note = models.CharField(max_length=255, blank=True)
    # The cashier, or the supervisor who force-closed an abandoned shift (then nothing was
    # counted: ``counted`` stays empty and the over/short means nothing).
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_force_closed = models.BooleanField(default=False)
    force_close_reason = models.CharField(max_length=255, blank=True)
    # A supervisor's check of the closed shift's count, by someone other than the cashier.
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    sign_off_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["vending_point", "closed_at"], name="shift_point_closed_at")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["operator"],
                condition=models.Q(status="open"),
                name="one_open_shift_per_operator",
            ),
        ]

    def __str__(self) -> str:
        return f"shift {self.pk} {self.operator} at {self.vending_point.code}"

    @property
    def audit_org_path(self) -> str:
        return self.vending_point.org_unit.path


class PaymentMethod(models.TextChoices):
    """How a sale was paid (``Sale.payment_method`` keeps the code; screens show the label)."""

    CASH = "cash", _("Cash")
    CARD = "card", _("Card")
    CHEQUE = "cheque", _("Cheque")
    TRANSFER = "transfer", _("Bank transfer")
    MOBILE_MONEY = "mobile_money", _("Mobile money")
    WALLET = "wallet", _("Wallet")
    FLOAT = "float", _("Agent float")


def payment_method_label(method: str) -> str:
    """The translated name of a tender type; an unknown code is shown as it is."""
    if not method:
        return ""
    if method in PaymentMethod.values:
        return str(PaymentMethod(method).label)
    return method


class SaleKind(models.TextChoices):
    CREDIT = "credit", _("Credit sale")
    FREE_ISSUE = "free_issue", _("Free issue")
    FBE = "fbe", _("Free basic electricity")
    ENGINEERING = "engineering", _("Engineering token")
    KEY_CHANGE = "key_change", _("Key change")
    CREDIT_TRANSFER = "credit_transfer", _("Credit transfer")
    # Money towards the customer's arrears and nothing else: no token (a partner's "pay account").
    DEBT_PAYMENT = "debt_payment", _("Debt payment")


class SaleStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    REVERSED = "reversed", _("Reversed")


class Sale(models.Model):
    reference = models.CharField(max_length=24, unique=True)
    kind = models.CharField(max_length=20, choices=SaleKind.choices)
    status = models.CharField(
        max_length=10, choices=SaleStatus.choices, default=SaleStatus.COMPLETED
    )
    # Null for back-office operations (credit transfer at meter replacement).
    vending_point = models.ForeignKey(
        VendingPoint, null=True, blank=True, on_delete=models.PROTECT, related_name="sales"
    )
    channel = models.CharField(max_length=20)
    # The caller's own id for the request: a repeat returns this sale, never a second one.
    client_reference = models.CharField(max_length=64)
    request_fingerprint = models.CharField(max_length=64)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    shift = models.ForeignKey(
        Shift, null=True, blank=True, on_delete=models.PROTECT, related_name="sales"
    )
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="sales")
    customer = models.ForeignKey(
        Customer, null=True, on_delete=models.PROTECT, related_name="sales"
    )
    tariff_version = models.ForeignKey(
        TariffVersion, null=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(max_length=3)
    tender_minor = models.BigIntegerField(default=0)
    debt_recovered_minor = models.BigIntegerField(default=0)
    fixed_charges_minor = models.BigIntegerField(default=0)
    tax_minor = models.BigIntegerField(default=0)
    energy_minor = models.BigIntegerField(default=0)
    kwh = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    priced_kwh = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    fbe_kwh = models.DecimalField(max_digits=10, decimal_places=1, default=0)
    fixed_charges_paid_through = models.DateField(null=True, blank=True)
    breakdown = models.JSONField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    payment_method = models.CharField(max_length=20, blank=True)
    # The card slip, cheque number or mobile-money transaction code of a non-cash tender, so
    # that the sale can be matched with the bank or operator statement. NULL, never "", when no
    # reference was taken (cash, other channels, and every sale before this column).
    payment_reference = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # Cash the customer handed over, when the cashier entered it: the change given back is
    # this less the tender. Null when not entered (or not a cash sale).
    cash_received_minor = models.BigIntegerField(null=True, blank=True)
    # Set by the first receipt print; every later print is marked REPRINT and audited.
    receipt_printed_at = models.DateTimeField(null=True, blank=True)
    # What the customer still owes after this sale's debt recovery, in the sale's currency, as
    # printed on its receipt (NULL for sales without a customer or a price, and older sales).
    debt_balance_after_minor = models.BigIntegerField(null=True, blank=True)
    # The meter key the tokens were made for (after a key change on this sale, the new one):
    # printed on the receipt, and not the meter's key of a later day. Empty for older sales.
    key_sgc = models.CharField(max_length=6, blank=True, default="")
    key_ti = models.PositiveSmallIntegerField(null=True, blank=True)
    key_krn = models.PositiveSmallIntegerField(null=True, blank=True)
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="sale"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    business_date = models.DateField(db_index=True)
    business_month = models.CharField(max_length=7)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vending_point", "client_reference"], name="sale_client_reference_once"
            ),
            models.CheckConstraint(
                condition=models.Q(tender_minor__gte=0), name="sale_tender_ge_0"
            ),
            models.CheckConstraint(
                condition=models.Q(cash_received_minor__isnull=True)
                | models.Q(cash_received_minor__gte=models.F("tender_minor")),
                name="sale_cash_received_covers_tender",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "business_month"]),
            models.Index(fields=["meter", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def audit_org_path(self) -> str:
        return self.meter.org_unit.path

    @property
    def change_minor(self) -> int | None:
        """The change given back from the cash received (None when it was not entered)."""
        if self.cash_received_minor is None:
            return None
        return self.cash_received_minor - self.tender_minor


class TokenKind(models.TextChoices):
    CREDIT = "credit", _("Credit")
    FBE = "fbe", _("Free basic electricity")
    FREE_ISSUE = "free_issue", _("Free issue")
    KEY_CHANGE = "key_change", _("Key change")
    ENGINEERING = "engineering", _("Engineering")
    CREDIT_TRANSFER = "credit_transfer", _("Credit transfer")


class Token(models.Model):
    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="tokens")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="tokens")
    sequence = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=TokenKind.choices)
    digits = models.CharField(max_length=20)
    token_class = models.PositiveSmallIntegerField()
    subclass = models.PositiveSmallIntegerField()
    # Key-change tokens carry no TID; NULLs never collide in the unique constraint.
    tid = models.BigIntegerField(null=True, blank=True)
    # TIDs count minutes from the key's base date; after a roll-over (1993 → 2014) the same
    # number means another minute, so uniqueness is per base date.
    tid_base_year = models.PositiveSmallIntegerField(null=True, blank=True)
    units = models.DecimalField(max_digits=14, decimal_places=1, null=True, blank=True)
    description = models.CharField(max_length=120, blank=True)
    # The vending key that made it (a key change's tokens: the old key); empty for meter test
    # tokens, which are not encrypted. The key usage counters count these.
    key_ref = models.CharField(max_length=60, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sale", "sequence"]
        indexes = [models.Index(fields=["key_ref", "created_at"], name="token_key_usage")]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "tid_base_year", "tid"], name="token_tid_once_per_meter"
            ),
            models.UniqueConstraint(fields=["sale", "sequence"], name="token_sequence_in_sale"),
        ]

    def __str__(self) -> str:
        return self.grouped

    @property
    def grouped(self) -> str:
        return " ".join(self.digits[i : i + 4] for i in range(0, len(self.digits), 4))


class ReversalRequest(DecisionRequest):
    """A reversal asked for by one person and decided by another (maker–checker)."""

    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="reversal_requests")
    reason = models.CharField(max_length=255)
    # The drawer the requester held when asking: the one that pays the refund if it is still
    # open at approval (never a drawer they opened later, elsewhere, knowing nothing of it).
    requester_shift = models.ForeignKey(
        Shift, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sale"],
                condition=models.Q(status="pending"),
                name="one_pending_reversal_request_per_sale",
            ),
        ]

    def __str__(self) -> str:
        return f"reversal request for {self.sale} ({self.status})"

    @property
    def audit_org_path(self) -> str:
        return self.sale.meter.org_unit.path


class Reversal(models.Model):
    sale = models.OneToOneField(Sale, on_delete=models.PROTECT, related_name="reversal")
    reason = models.CharField(max_length=255)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, on_delete=models.PROTECT, related_name="reversal"
    )
    # The open shift whose drawer paid the refund, when the sale's own shift had already closed.
    refund_shift = models.ForeignKey(
        Shift, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"reversal of {self.sale}"


class BackOfficeRefund(models.Model):
    """A refund of a closed shift's sale that no open drawer paid: the back office paid it, and
    the sale's vending point banks that much less on the day (its banking slip shows it)."""

    reversal = models.OneToOneField(
        Reversal, on_delete=models.PROTECT, related_name="back_office_refund"
    )
    vending_point = models.ForeignKey(
        VendingPoint, on_delete=models.PROTECT, related_name="back_office_refunds"
    )
    business_date = models.DateField(db_index=True)
    payment_method = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gte=0), name="back_office_refund_amount_ge_0"
            ),
        ]

    def __str__(self) -> str:
        return f"back-office refund of {self.reversal.sale}"

    @property
    def audit_org_path(self) -> str:
        return self.vending_point.org_unit.path


class FloatTopUp(models.Model):
    """A partner's prefunding, once per bank reference (a retried form or job changes nothing)."""

    vending_point = models.ForeignKey(
        VendingPoint, on_delete=models.PROTECT, related_name="float_top_ups"
    )
    reference = models.CharField(max_length=64)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    journal_entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="float_top_up"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vending_point", "reference"], name="float_top_up_reference_once"
            ),
        ]

    def __str__(self) -> str:
        return f"float top-up {self.reference} at {self.vending_point.code}"

    @property
    def audit_org_path(self) -> str:
        return self.vending_point.org_unit.path


class FreeIssueRequest(DecisionRequest):
    """Goodwill units above the approval limit: asked for by one person, decided by another."""

    vending_point = models.ForeignKey(
        VendingPoint, on_delete=models.PROTECT, related_name="free_issue_requests"
    )
    client_reference = models.CharField(max_length=64)
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="free_issue_requests")
    kwh = models.DecimalField(max_digits=10, decimal_places=1)
    reason = models.CharField(max_length=255)
    sale = models.OneToOneField(
        Sale, null=True, blank=True, on_delete=models.PROTECT, related_name="free_issue_request"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vending_point", "client_reference"],
                name="free_issue_request_reference_once",
            ),
        ]

    def __str__(self) -> str:
        return f"free issue request {self.pk} for {self.meter} ({self.status})"

    @property
    def audit_org_path(self) -> str:
        return self.meter.org_unit.path


class CustomerMonth(models.Model):
    """On an offline station: what the customer bought this month that the station did not sell
    (on the master and at other stations), as the master last told it, less this station's own
    sales the master had applied by then (docs/stations.md, "Month totals"). A sale's reads add
    it to the station's own sales (``vending.locks.read_sale_context``). Synced down, never
    written by a sale; on the master this table stays empty (the master computes the row from
    its sales when it serves it, ``stations.changes``)."""

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    # The business month the totals are of ("YYYY-MM"); another month counts as zero.
    month = models.CharField(max_length=7)
    priced_kwh = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    fbe_kwh = models.DecimalField(max_digits=10, decimal_places=1, default=0)
    debt_recovered_minor = models.BigIntegerField(default=0)
    # The latest day fixed charges are paid through, of any month.
    fixed_charges_paid_through = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"month {self.month} of customer {self.customer_id}"
