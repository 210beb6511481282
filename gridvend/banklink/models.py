"""A bank's link settings (how its front machine frames messages), its sessions and every raw
message in and out, the Billpay requests and advices of the REST form, and the daily
reconciliation of the bank's payments with its discrepancies."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.billing.models import BillPayment
from gridvend.partners.models import Partner

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields


class Charset(models.TextChoices):
    UTF8 = "utf-8", _("UTF-8")
    ASCII = "ascii", _("ASCII")
    GBK = "gbk", _("GBK (Simplified Chinese)")


class BankLink(models.Model):
    """One bank partner's fixed-format link: the agency id its messages carry, the port its
    front machine connects to, and its framing (header width and form, what the length counts,
    the body's character set, the largest frame, the read timeout)."""

    partner = models.OneToOneField(Partner, on_delete=models.PROTECT, related_name="bank_link")
    agency_id = models.CharField(max_length=20, unique=True)
    port = models.PositiveIntegerField(unique=True, null=True, blank=True)
    header_width = models.PositiveSmallIntegerField(default=4)
    binary_header = models.BooleanField(default=False)
    length_includes_header = models.BooleanField(default=False)
    charset = models.CharField(max_length=8, choices=Charset.choices, default=Charset.GBK)
    max_body_bytes = models.PositiveIntegerField(default=8192)
    read_timeout_seconds = models.PositiveSmallIntegerField(default=30)
    # Short connections: one transaction per connection, closed after the reply.
    is_short_connection = models.BooleanField(default=True)
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = (
        "agency_id",
        "port",
        "header_width",
        "binary_header",
        "length_includes_header",
        "charset",
        "max_body_bytes",
        "read_timeout_seconds",
        "is_short_connection",
        "is_enabled",
    )

    class Meta:
        ordering = ["agency_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(header_width__in=(2, 4, 6, 8, 10)),
                name="banklink_header_width_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.name} ({self.agency_id})"

    @property
    def reconcile_rows(self) -> int:
        """The detail rows one reconciliation frame of this link can carry."""
        return reconcile_rows(self.max_body_bytes)

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path


class SessionOutcome(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed by the bank")
    ANSWERED = "answered", _("Answered and closed")
    TIMED_OUT = "timed_out", _("Timed out")
    REFUSED = "refused", _("Refused")


class BankSession(models.Model):
    """One TCP connection from a bank's front machine."""

    link = models.ForeignKey(
        BankLink, on_delete=models.PROTECT, related_name="sessions", null=True, blank=True
    )
    peer_host = models.GenericIPAddressField()
    peer_port = models.PositiveIntegerField()
    is_tls = models.BooleanField(default=False)
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=SessionOutcome.choices, default=SessionOutcome.OPEN
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.peer_host}:{self.peer_port} {self.opened_at:%Y-%m-%d %H:%M:%S}"


class Direction(models.TextChoices):
    IN = "in", _("In")
    OUT = "out", _("Out")


class RawMessage(models.Model):
    """The bytes of one frame as they came in (stored before parsing) or went out (after the
    answer was written), with the peer and the time: what the auditor reads when a bank and the
    utility disagree."""

    session = models.ForeignKey(BankSession, on_delete=models.PROTECT, related_name="messages")
    link = models.ForeignKey(
        BankLink, on_delete=models.PROTECT, related_name="messages", null=True, blank=True
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    peer_host = models.GenericIPAddressField()
    peer_port = models.PositiveIntegerField()
    occurred_at = models.DateTimeField(default=timezone.now)
    content = models.BinaryField(editable=False)
    byte_count = models.PositiveIntegerField()
    # What we made of it: the message type read, the return code answered, a framing problem.
    message_type = models.PositiveSmallIntegerField(null=True, blank=True)
    return_code = models.CharField(max_length=4, blank=True)
    problem = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["link", "-occurred_at"], name="banklink_raw_link_time")]

    def __str__(self) -> str:
        return f"{self.direction} {self.byte_count} bytes {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class BankPaymentState(models.TextChoices):
    PROVISIONAL = "provisional", _("Provisional")
    CONFIRMED = "confirmed", _("Confirmed")
    REVERSED = "reversed", _("Reversed")


class BillpayKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    REFUND = "refund", _("Refund")


class BillpayRequest(models.Model):
    """A Billpay payment or refund request: provisional until its confirmation (the payment is
    then taken by billing, or the refund cancels the payment it names), or reversed."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="billpay_requests")
    request_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=BillpayKind.choices)
    fingerprint = models.CharField(max_length=64)
    account_number = models.CharField(max_length=40)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    state = models.CharField(max_length=12, choices=BankPaymentState.choices)
    # Ours, printed on the bank's slip; a refund names the payment by it.
    issuer_reference = models.CharField(max_length=40, unique=True)
    refund_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, related_name="refunds", null=True, blank=True
    )
    refund_reason = models.CharField(max_length=200, blank=True)
    # The payment its confirmation took (a payment) or cancelled (a refund).
    bill_payment = models.ForeignKey(
        BillPayment, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    echo = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finalised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "request_id"], name="banklink_billpay_request_once"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="banklink_billpay_amount_positive"
            ),
            # One live (not reversed) refund per payment: two at once are never both approved.
            models.UniqueConstraint(
                fields=["refund_of"],
                condition=~models.Q(state="reversed"),
                name="banklink_billpay_refund_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.issuer_reference}"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path


class AdviceKind(models.TextChoices):
    CONFIRMATION = "confirmation", _("Confirmation")
    REVERSAL = "reversal", _("Reversal")


class BillpayAdvice(models.Model):
    """A confirmation or reversal advice, kept so that a repeat is answered as the first."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="billpay_advices")
    advice_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=AdviceKind.choices)
    request = models.ForeignKey(BillpayRequest, on_delete=models.PROTECT, related_name="advices")
    reason = models.CharField(max_length=40, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "advice_id"], name="banklink_billpay_advice_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.advice_id}"


class ReconciliationSource(models.TextChoices):
    MESSAGE = "message", _("Message 90")
    UPLOAD = "upload", _("Uploaded file")


# A reconciliation frame (gateways.banklink.layout; a test holds them equal) is its head and
# 54 bytes per detail row, at most 5,000 rows.
RECONCILE_HEAD_BYTES = 128
RECONCILE_ROW_BYTES = 54
MAX_RECONCILE_ROWS = 5000


def reconcile_rows(max_body_bytes: int) -> int:
    """How many detail rows a reconciliation frame can carry on a link with this largest body;
    a bank with more payments in a day uploads its file instead (docs/bank-link.md)."""
    rows = (max_body_bytes - RECONCILE_HEAD_BYTES) // RECONCILE_ROW_BYTES
    return max(0, min(rows, MAX_RECONCILE_ROWS))


class ReconciliationStatus(models.TextChoices):
    OPEN = "open", _("Discrepancies to resolve")
    CLOSED = "closed", _("Closed")
    # An open day on which nobody had resolved anything, replaced by a later file of the bank
    # (an empty or early file must not block the day): kept for the record, read by nothing.
    SUPERSEDED = "superseded", _("Replaced by a later file")


class Reconciliation(models.Model):
    """A bank's totals and details for one bank accounting date, compared with our payments of
    that bank and date. Closed when every discrepancy is resolved: its payments are then marked
    reconciled and none of them can be cancelled."""

    link = models.ForeignKey(BankLink, on_delete=models.PROTECT, related_name="reconciliations")
    bank_date = models.DateField()
    source = models.CharField(max_length=8, choices=ReconciliationSource.choices)
    status = models.CharField(max_length=10, choices=ReconciliationStatus.choices)
    bank_count = models.PositiveIntegerField()
    bank_total_minor = models.BigIntegerField()
    our_count = models.PositiveIntegerField()
    our_total_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-bank_date", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["link", "bank_date"],
                condition=~models.Q(status="superseded"),
                name="banklink_reconcile_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.link.agency_id} {self.bank_date:%Y-%m-%d}"

    @property
    def audit_org_path(self) -> str:
        return self.link.partner.org_unit.path

    @property
    def reference(self) -> str:
        return f"BANKREC-{self.link.agency_id}-{self.bank_date:%Y%m%d}"


class LineKind(models.TextChoices):
    MATCHED = "matched", _("Matched")
    MISSING_OURS = "missing_ours", _("Missing on our side")
    MISSING_BANK = "missing_bank", _("Missing on the bank's side")
    AMOUNT_DIFFERS = "amount_differs", _("Amount differs")
    # The bank's row names another account than the one we booked its serial to.
    ACCOUNT_DIFFERS = "account_differs", _("Account differs")


class ReconciliationLine(models.Model):
    """One bank serial: matched, or a discrepancy that a person resolves with a reason."""

    reconciliation = models.ForeignKey(
        Reconciliation, on_delete=models.PROTECT, related_name="lines"
    )
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    bank_serial = models.CharField(max_length=40)
    account_number = models.CharField(max_length=40, blank=True)
    bank_amount_minor = models.BigIntegerField(null=True, blank=True)
    our_amount_minor = models.BigIntegerField(null=True, blank=True)
    bill_payment = models.ForeignKey(
        BillPayment,
        on_delete=models.PROTECT,
        related_name="bank_reconciliation_lines",
        null=True,
        blank=True,
    )
    resolution = models.CharField(max_length=500, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["reconciliation", "kind", "bank_serial"]
        constraints = [
            models.UniqueConstraint(
                fields=["reconciliation", "bank_serial"], name="banklink_line_serial_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.bank_serial}"

    @property
    def audit_org_path(self) -> str:
        return self.reconciliation.link.partner.org_unit.path

    @property
    def is_discrepancy(self) -> bool:
        return self.kind != LineKind.MATCHED
