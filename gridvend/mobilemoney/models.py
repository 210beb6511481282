"""A mobile-money provider's set-up (one paybill shortcode of an aggregator partner), each
payment it reports and what became of it, the STK pushes gridvend starts, every raw callback as
it came, refund requests (two people), and the daily reconciliation with the provider's
statement."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.approvals.models import DecisionRequest
from gridvend.ledger.models import JournalEntry
from gridvend.meters.models import Meter
from gridvend.partners.models import Partner
from gridvend.vending.models import Sale

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields


class ProviderKind(models.TextChoices):
    DARAJA = "daraja", _("Safaricom M-Pesa Daraja")
    SANDBOX = "sandbox", _("Sandbox (fake Daraja, for development and the demo)")


class ResponseType(models.TextChoices):
    COMPLETED = "Completed", _("Completed (pay when validation does not answer)")
    CANCELLED = "Cancelled", _("Cancelled (refuse when validation does not answer)")


class MobileProvider(models.Model):
    """One paybill of an aggregator partner: sales from its payments draw on that partner's
    float. Credentials are never stored: only the names of the environment variables holding
    them. ``callback_salt`` makes the secret segment of the callback URLs; changing it retires
    the URLs registered before."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=ProviderKind.choices)
    partner = models.OneToOneField(
        Partner, on_delete=models.PROTECT, related_name="mobile_provider"
    )
    shortcode = models.CharField(max_length=7, unique=True)
    base_url = models.CharField(max_length=200)
    consumer_key_env = models.CharField(max_length=64)
    consumer_secret_env = models.CharField(max_length=64)
    passkey_env = models.CharField(max_length=64)
    # The Reversal API's initiator (an operator of the paybill's M-Pesa org portal) and its
    # security credential (the initiator's password encrypted with Safaricom's certificate),
    # by the names of the variables holding them; blank: refunds are paid back by hand.
    initiator_env = models.CharField(max_length=64, blank=True)
    security_credential_env = models.CharField(max_length=64, blank=True)
    response_type = models.CharField(
        max_length=10, choices=ResponseType.choices, default=ResponseType.COMPLETED
    )
    stk_timeout_seconds = models.PositiveIntegerField(default=120)
    callback_salt = models.CharField(max_length=32)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = (
        "name",
        "kind",
        "shortcode",
        "base_url",
        "consumer_key_env",
        "consumer_secret_env",
        "passkey_env",
        "initiator_env",
        "security_credential_env",
        "response_type",
        "stk_timeout_seconds",
        "is_enabled",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.shortcode})"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path


class PaymentState(models.TextChoices):
    RECEIVED = "received", _("Received, being sold")
    SOLD = "sold", _("Sold")
    # Paid to a wallet's reference (gridvend.wallet): the customer's wallet is credited from
    # the aggregator partner's float, as a sale would be sold from it.
    CREDITED = "credited", _("Credited to a wallet")
    SUSPENSE = "suspense", _("Suspense")
    REFUND_PENDING = "refund_pending", _("Refund awaiting approval")
    REFUNDING = "refunding", _("Reversal sent to the provider")
    REFUND_MANUAL = "refund_manual", _("Refund approved, to be paid back by hand")
    REFUNDED = "refunded", _("Refunded")
    # Money held as possibly another STK push's, found to be the money of a push already sold
    # without its receipt: that payment now carries the receipt; this one is closed.
    MERGED = "merged", _("Merged into the STK payment it was")


# The states in which a payment's money is owed to its customer and waits on the books in
# mobile-money suspense (a payment being re-sold by customer care is RECEIVED meanwhile).
OPEN_SUSPENSE_STATES = (
    "suspense",
    "refund_pending",
    "refunding",
    "refund_manual",
)


class PaymentSource(models.TextChoices):
    CONFIRMATION = "confirmation", _("C2B confirmation")
    STK_CALLBACK = "stk_callback", _("STK push callback")
    STK_QUERY = "stk_query", _("STK push status query")
    BACKFILL = "backfill", _("Back-fill from the provider")


class MobilePayment(models.Model):
    """Money a customer paid through a provider: as it came (reference, amount and phone as
    written) and what became of it. A sale, a suspense item or a refund; never lost, never
    sold twice (one row per provider transaction id, one partner request per payment)."""

    provider = models.ForeignKey(MobileProvider, on_delete=models.PROTECT, related_name="payments")
    # The provider's receipt (M-Pesa TransID / MpesaReceiptNumber); empty for an STK push known
    # only from the status query, until the back-fill finds its receipt.
    trans_id = models.CharField(max_length=40, blank=True)
    # The partner request id its sale goes under (the receipt, or the STK checkout id).
    request_id = models.CharField(max_length=64)
    source = models.CharField(max_length=14, choices=PaymentSource.choices)
    bill_ref = models.CharField(max_length=40, blank=True)  # as typed by the customer
    account_ref = models.CharField(max_length=20, blank=True)  # normalised
    # Where customer care sends a suspense payment instead (a meter number); blank: account_ref.
    sell_ref = models.CharField(max_length=20, blank=True)
    amount_text = models.CharField(max_length=40, blank=True)  # as sent
    amount_minor = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    msisdn = models.CharField(max_length=32, blank=True)
    is_msisdn_masked = models.BooleanField(default=False)
    payer_name = models.CharField(max_length=120, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)  # the provider's transaction time
    business_date = models.DateField()
    state = models.CharField(max_length=14, choices=PaymentState.choices)
    suspense_code = models.CharField(max_length=40, blank=True)
    sale = models.OneToOneField(
        Sale, on_delete=models.PROTECT, related_name="mobile_payment", null=True, blank=True
    )
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="mobile_payments", null=True, blank=True
    )
    sms_to = models.CharField(max_length=32, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    resolution_note = models.CharField(max_length=255, blank=True)
    # The books: the entry that put the payment's money in mobile-money suspense, and the one
    # that released it (into its sale, or against the money sent back). Both or neither of a
    # payment that is no longer open; the first alone while it waits.
    suspense_entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    release_entry = models.OneToOneField(
        JournalEntry, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(release_entry__isnull=True)
                | models.Q(suspense_entry__isnull=False),
                name="mobilemoney_payment_release_after_suspense",
            ),
            models.UniqueConstraint(
                fields=["provider", "trans_id"],
                condition=~models.Q(trans_id=""),
                name="mobilemoney_payment_trans_once",
            ),
            models.UniqueConstraint(
                fields=["provider", "request_id"], name="mobilemoney_payment_request_once"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__isnull=True) | models.Q(amount_minor__gte=0),
                name="mobilemoney_payment_amount_not_negative",
            ),
            # A sold payment has its sale; nothing else has one.
            models.CheckConstraint(
                condition=models.Q(state="sold", sale__isnull=False)
                | (~models.Q(state="sold") & models.Q(sale__isnull=True)),
                name="mobilemoney_payment_sold_has_sale",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-received_at"], name="mobilemoney_payment_state"),
            models.Index(fields=["provider", "business_date"], name="mobilemoney_payment_day"),
        ]

    def __str__(self) -> str:
        return self.trans_id or self.request_id

    @property
    def audit_org_path(self) -> str:
        return self.provider.partner.org_unit.path

    @property
    def is_open_suspense(self) -> bool:
        return self.state == PaymentState.SUSPENSE


class CallbackKind(models.TextChoices):
    VALIDATION = "validation", _("C2B validation")
    CONFIRMATION = "confirmation", _("C2B confirmation")
    STK_CALLBACK = "stk_callback", _("STK push callback")
    STK_QUERY = "stk_query", _("STK push status query answer")
    PULL = "pull", _("Pull transactions answer")
    REVERSAL_RESULT = "reversal", _("Reversal result")
    REVERSAL_TIMEOUT = "reversal_timeout", _("Reversal queue time-out")


class RawCallback(models.Model):
    """A provider's message as it came (stored before parsing), the address it came from, what
    we answered and what we made of it: what the auditor reads when a customer and the utility
    disagree."""

    provider = models.ForeignKey(
        MobileProvider, on_delete=models.PROTECT, related_name="callbacks", null=True, blank=True
    )
    kind = models.CharField(max_length=20, choices=CallbackKind.choices)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    body = models.TextField(blank=True)
    byte_count = models.PositiveIntegerField(default=0)
    reply = models.TextField(blank=True)
    problem = models.CharField(max_length=200, blank=True)
    payment = models.ForeignKey(
        MobilePayment,
        on_delete=models.PROTECT,
        related_name="callbacks",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.received_at:%Y-%m-%d %H:%M:%S}"


class StkState(models.TextChoices):
    REQUESTED = "requested", _("Sent to the phone")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled by the customer")
    FAILED = "failed", _("Failed")
    UNREACHABLE = "unreachable", _("The phone could not be reached")
    TIMED_OUT = "timed_out", _("No answer from the phone in time")
    REFUSED = "refused", _("Refused by the provider")


class StkPush(models.Model):
    """A payment prompt gridvend sent to a phone (from USSD, the portal or a cashier screen):
    waiting for the callback, then paid (its payment sold) or not, with the provider's code."""

    provider = models.ForeignKey(
        MobileProvider, on_delete=models.PROTECT, related_name="stk_pushes"
    )
    checkout_request_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    merchant_request_id = models.CharField(max_length=64, blank=True)
    phone = models.CharField(max_length=15)
    # What the prompt shows (Daraja's AccountReference: at most 12 characters) ...
    account_ref = models.CharField(max_length=12)
    # ... and the meter sold to, whole (a 13-digit meter number does not fit the prompt).
    meter_number = models.CharField(max_length=20, blank=True)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    channel = models.CharField(max_length=20)  # who asked: "cashier", "portal", "ussd"...
    # The language the buyer chose there (USSD menu, SMS LANG, portal): the token SMS's.
    language = models.CharField(max_length=10, blank=True, default="")
    # The asker's idempotency key (a cashier screen's form reference): the same key asks once.
    client_reference = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=12, choices=StkState.choices)
    result_code = models.CharField(max_length=40, blank=True)
    result_desc = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    query_attempts = models.PositiveSmallIntegerField(default=0)
    payment = models.OneToOneField(
        MobilePayment, on_delete=models.PROTECT, related_name="stk_push", null=True, blank=True
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="mobilemoney_stk_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["requested_by", "client_reference"],
                condition=~models.Q(client_reference=""),
                name="mobilemoney_stk_asked_once",
            ),
        ]

    def __str__(self) -> str:
        return self.checkout_request_id or f"stk-{self.pk}"

    @property
    def audit_org_path(self) -> str:
        return self.provider.partner.org_unit.path


class ReversalState(models.TextChoices):
    NONE = "", _("Not sent to the provider")
    REQUESTED = "requested", _("Reversal sent, waiting for its result")
    COMPLETED = "completed", _("Reversed by the provider")
    FAILED = "failed", _("Reversal failed")


class MobileRefundRequest(DecisionRequest):
    """A suspense payment to be given back to the customer, asked by customer care and decided
    by finance (a second person). On approval the money goes back through the provider's
    Reversal API (its result comes by callback), or, where the provider cannot reverse, by hand:
    ``refund_reference`` is then the reference customer care records of the money sent back."""

    payment = models.ForeignKey(MobilePayment, on_delete=models.PROTECT, related_name="refunds")
    reason = models.CharField(max_length=255)
    refund_reference = models.CharField(max_length=40, blank=True)
    reversal_state = models.CharField(
        max_length=10, choices=ReversalState.choices, blank=True, default=ReversalState.NONE
    )
    # Daraja's ids of the reversal request (its result callback carries both).
    conversation_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    originator_conversation_id = models.CharField(max_length=64, blank=True)
    result_code = models.CharField(max_length=40, blank=True)
    result_desc = models.CharField(max_length=200, blank=True)

    class Meta(DecisionRequest.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["payment"],
                condition=models.Q(status="pending"),
                name="mobilemoney_refund_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.payment}"

    @property
    def audit_org_path(self) -> str:
        return self.payment.audit_org_path


class ReconciliationLineKind(models.TextChoices):
    MATCHED = "matched", _("Matched")
    MISSING_OURS = "missing_ours", _("In the statement, not with us")
    MISSING_PROVIDER = "missing_provider", _("With us, not in the statement")
    AMOUNT_DIFFERS = "amount_differs", _("Amount differs")


class MobileReconciliation(models.Model):
    """One provider day: the provider's statement compared with our payments of that day, and
    how ours stand (sold, suspense, refunded). Run again, it replaces its lines."""

    provider = models.ForeignKey(
        MobileProvider, on_delete=models.PROTECT, related_name="reconciliations"
    )
    business_date = models.DateField()
    statement_count = models.PositiveIntegerField()
    statement_total_minor = models.BigIntegerField()
    our_count = models.PositiveIntegerField()
    our_total_minor = models.BigIntegerField()
    sold_count = models.PositiveIntegerField()
    suspense_count = models.PositiveIntegerField()
    refunded_count = models.PositiveIntegerField()
    unsettled_count = models.PositiveIntegerField()
    discrepancies = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    run_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "business_date"], name="mobilemoney_reconcile_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider.code} {self.business_date:%Y-%m-%d}"

    @property
    def audit_org_path(self) -> str:
        return self.provider.partner.org_unit.path


class MobileReconciliationLine(models.Model):
    reconciliation = models.ForeignKey(
        MobileReconciliation, on_delete=models.CASCADE, related_name="lines"
    )
    kind = models.CharField(max_length=16, choices=ReconciliationLineKind.choices)
    trans_id = models.CharField(max_length=40)
    account_ref = models.CharField(max_length=40, blank=True)
    statement_amount_minor = models.BigIntegerField(null=True, blank=True)
    our_amount_minor = models.BigIntegerField(null=True, blank=True)
    payment = models.ForeignKey(
        MobilePayment, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["reconciliation", "kind", "trans_id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.trans_id}"

    @property
    def is_discrepancy(self) -> bool:
        return self.kind != ReconciliationLineKind.MATCHED
