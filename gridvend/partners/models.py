"""Partners, their requests and their advices: who sells through the API, what each request id
was answered, and where each sale stands until it is final."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.approvals.models import DecisionRequest
from gridvend.ledger.models import JournalEntry
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.vending.models import Sale

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields


class PartnerKind(models.TextChoices):
    BANK = "bank", _("Bank")
    ATM_NETWORK = "atm_network", _("ATM network")
    RETAILER = "retailer", _("Retailer")
    AGGREGATOR = "aggregator", _("Mobile-money aggregator")


class PartnerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


class UnconfirmedPolicy(models.TextChoices):
    """What happens to a sale whose confirmation advice has not come within the window."""

    AUTO_CONFIRM = "auto_confirm", _("Confirm it (the sale stands)")
    AUTO_REVERSE = "auto_reverse", _("Reverse it (the float is refunded)")


class Partner(models.Model):
    """An organisation that sells tokens through the API from one prefunded float.

    Its sales are made by its service account (``service_user``, which nobody signs in with) at
    its vending points, whose float is the partner's one ledger account ``float_account``; the
    account's limit is the partner's credit line.
    """

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=PartnerKind.choices)
    status = models.CharField(
        max_length=10, choices=PartnerStatus.choices, default=PartnerStatus.ACTIVE
    )
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="partners")
    currency = models.CharField(max_length=3)
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="partner"
    )
    # Comma-separated addresses or networks (CIDR) the API accepts this partner's calls from;
    # empty means any address (keys and signatures still apply).
    ip_allow_list = models.TextField(blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    # An alert goes to the contacts when the float falls below this (0: no alert).
    low_float_minor = models.BigIntegerField(default=0)
    # Settlement profile: where the partner pays, and what happens to unconfirmed sales.
    settlement_bank = models.CharField(max_length=120, blank=True)
    settlement_account = models.CharField(max_length=64, blank=True)
    delivers_settlement_files = models.BooleanField(default=False)
    unconfirmed_policy = models.CharField(
        max_length=12, choices=UnconfirmedPolicy.choices, default=UnconfirmedPolicy.AUTO_CONFIRM
    )
    confirmation_window_minutes = models.PositiveIntegerField(default=24 * 60)
    reversal_window_minutes = models.PositiveIntegerField(default=24 * 60)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when the float fell below ``low_float_minor`` and its contacts were alerted; cleared
    # when it is back at or above it, so each crossing alerts once.
    low_float_alerted_at = models.DateTimeField(null=True, blank=True)

    audited_fields: ClassVar[AuditedFields] = (
        "code",
        "name",
        "kind",
        "status",
        "org_unit",
        "currency",
        "ip_allow_list",
        "contact_email",
        "contact_phone",
        "low_float_minor",
        "settlement_bank",
        "settlement_account",
        "delivers_settlement_files",
        "unconfirmed_policy",
        "confirmation_window_minutes",
        "reversal_window_minutes",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path

    @property
    def float_account(self) -> str:
        return f"float:partner:{self.code}"


class PartnerPoint(models.Model):
    """A vending point of the partner's (a branch, an ATM, a till): it sells from the float."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="points")
    vending_point = models.OneToOneField(
        VendingPoint, on_delete=models.PROTECT, related_name="partner_point"
    )
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["partner", "-is_default", "vending_point__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner"],
                condition=models.Q(is_default=True),
                name="one_default_point_per_partner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.code}: {self.vending_point.code}"


class RequestKind(models.TextChoices):
    PURCHASE = "purchase", _("Token purchase")
    FBE = "fbe", _("Free basic electricity")
    PAY_ACCOUNT = "pay_account", _("Account payment")
    KEY_CHANGE = "key_change", _("Key-change tokens")


class SaleState(models.TextChoices):
    """Where a partner's sale stands. Final: confirmed, reversed, expired."""

    PENDING = "pending", _("Pending confirmation")
    CONFIRMED = "confirmed", _("Confirmed")
    REVERSED = "reversed", _("Reversed")
    # The window passed without an advice and the partner's policy let the sale stand.
    EXPIRED = "expired", _("Expired (confirmed by policy)")
    # Refused: no sale; the request id keeps its answer.
    DECLINED = "declined", _("Declined")


FINAL_STATES = frozenset({SaleState.CONFIRMED, SaleState.REVERSED, SaleState.EXPIRED})


class PartnerRequest(models.Model):
    """One request id of one partner and the answer it got, kept for the last-response query:
    a repeat of the id gets the same answer, whatever has changed since."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="requests")
    request_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=RequestKind.choices)
    interface = models.CharField(max_length=12)  # "api" (native) or "electrum"
    fingerprint = models.CharField(max_length=64)
    vending_point = models.ForeignKey(VendingPoint, on_delete=models.PROTECT, related_name="+")
    sale = models.OneToOneField(
        Sale, null=True, blank=True, on_delete=models.PROTECT, related_name="partner_request"
    )
    state = models.CharField(max_length=10, choices=SaleState.choices)
    error_code = models.CharField(max_length=40, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    # As the partner sent them (its till, its cashier): shown on statements, never trusted.
    terminal_id = models.CharField(max_length=40, blank=True)
    operator_id = models.CharField(max_length=40, blank=True)
    msisdn = models.CharField(max_length=32, blank=True)
    # The interface's own echo fields (Electrum's originator, time...), replayed on a retry.
    echo = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finalised_at = models.DateTimeField(null=True, blank=True)
    # "advice" (the partner's), "policy" (the window passed), "settlement" (reconciliation).
    finalised_by = models.CharField(max_length=12, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "request_id"], name="partner_request_id_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "created_at"],
                condition=models.Q(state="pending"),
                name="partner_request_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.code}:{self.request_id}"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class AdviceKind(models.TextChoices):
    CONFIRMATION = "confirmation", _("Confirmation")
    REVERSAL = "reversal", _("Reversal")


class AdviceOutcome(models.TextChoices):
    APPLIED = "applied", _("Applied")
    # Nothing to do: the sale was already in the state the advice asks for, or was declined.
    ALREADY = "already", _("Already so")
    REFUSED = "refused", _("Refused")
    # The request it names is not known (yet): kept, and applied if the request arrives.
    UNMATCHED = "unmatched", _("Unmatched")


class PartnerAdvice(models.Model):
    """A confirmation or reversal advice, kept until final: advices are store-and-forward, so the
    same one may arrive twice, late, out of order, or before the request it names."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="advices")
    advice_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=AdviceKind.choices)
    # The request id the advice names, as sent (it may name a request not known yet).
    request_ref = models.CharField(max_length=64)
    request = models.ForeignKey(
        PartnerRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="advices"
    )
    outcome = models.CharField(max_length=10, choices=AdviceOutcome.choices)
    error_code = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=40, blank=True)
    interface = models.CharField(max_length=12)
    echo = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    times_seen = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "advice_id"], name="partner_advice_id_once"),
        ]
        indexes = [models.Index(fields=["partner", "request_ref"], name="partner_advice_request")]

    def __str__(self) -> str:
        return f"{self.partner.code}:{self.kind}:{self.advice_id}"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path


class PartnerKey(models.Model):
    """An API key of a partner's, stored as an HMAC digest under the server's pepper: the key
    itself is shown once when issued and never again. ``prefix`` is its public lookup part.

    Every key also has a signing secret (sealed with the master key, shown once too): a request
    signed with it is checked, and a key that ``requires_signature`` takes no unsigned request.
    """

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="keys")
    prefix = models.CharField(max_length=14, unique=True)
    digest = models.CharField(max_length=64)
    label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Written at most once a minute per key, and never waited for.
    last_used_at = models.DateTimeField(null=True, blank=True)
    requires_signature = models.BooleanField(default=False)
    signing_nonce = models.BinaryField(max_length=16)
    signing_ciphertext = models.BinaryField(max_length=64)
    signing_tag = models.BinaryField(max_length=16)
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    # The key this one rotated out (that key then expires after the overlap).
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )

    class Meta:
        ordering = ["partner", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.partner.code}: {self.prefix}"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


# Settlement: the partner's daily file of what it sold, matched against our sales ----------------


class SettlementDayStatus(models.TextChoices):
    """Whether a partner's file for a business day came (a partner that delivers files)."""

    RECEIVED = "received", _("File received")
    MISSING = "missing", _("File missing")


class SettlementFileStatus(models.TextChoices):
    RECONCILED = "reconciled", _("Reconciled")
    # A later file for the same partner and day replaced it; its items no longer count.
    SUPERSEDED = "superseded", _("Superseded")


class SettlementFile(models.Model):
    """One settlement file a partner delivered for one business day, as uploaded, and the totals
    of its reconciliation. The same bytes for the same partner and day are one upload."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="settlement_files")
    business_date = models.DateField()
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=255)
    size_bytes = models.PositiveIntegerField()
    # The file itself, kept as evidence of what the partner said (capped at upload).
    content = models.BinaryField(editable=False)
    line_count = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=10,
        choices=SettlementFileStatus.choices,
        default=SettlementFileStatus.RECONCILED,
    )
    currency = models.CharField(max_length=3)
    # Net of the file (its sales less those it reversed) and of ours for the same requests and
    # day; the per-status counts and totals of the items are in ``summary``.
    file_total_minor = models.BigIntegerField(default=0)
    our_total_minor = models.BigIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-business_date", "-uploaded_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "business_date", "sha256"], name="settlement_file_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.code}:{self.business_date}:{self.filename}"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path


class SettlementDay(models.Model):
    """A partner's business day as settlement sees it: the file that counts, or its absence."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="settlement_days")
    business_date = models.DateField()
    status = models.CharField(max_length=10, choices=SettlementDayStatus.choices)
    file = models.ForeignKey(
        SettlementFile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-business_date", "partner"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "business_date"], name="settlement_day_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.code}:{self.business_date}"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path


class ItemStatus(models.TextChoices):
    MATCHED = "matched", _("Matched")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount differs")
    # The partner's meter number or our sale reference differ; the amounts agree.
    DETAIL_MISMATCH = "detail_mismatch", _("Meter or reference differs")
    REVERSAL_MISMATCH = "reversal_mismatch", _("Reversed on one side only")
    MISSING_HERE = "missing_here", _("Missing in gridvend")
    MISSING_THERE = "missing_there", _("Missing at the partner")


# The statuses whose items both sides know about, but tell differently.
MISMATCHED = frozenset(
    {ItemStatus.AMOUNT_MISMATCH, ItemStatus.DETAIL_MISMATCH, ItemStatus.REVERSAL_MISMATCH}
)


class Resolution(models.TextChoices):
    OPEN = "open", _("Open")
    # Nothing to resolve (a match).
    NONE = "none", _("Nothing to resolve")
    PENDING = "pending", _("Awaiting approval")
    ACCEPTED = "accepted", _("Accepted")
    REVERSED = "reversed", _("Sale reversed")
    WRITTEN_OFF = "written_off", _("Written off")


class ResolutionAction(models.TextChoices):
    ACCEPT = "accept", _("Accept (the difference is explained)")
    REVERSE = "reverse", _("Reverse our sale")
    WRITE_OFF = "write_off", _("Write off")


class SettlementItem(models.Model):
    """One request as the file and gridvend each tell it, and what was decided about it."""

    file = models.ForeignKey(SettlementFile, on_delete=models.PROTECT, related_name="items")
    # The file's line (its SALE line); None for a sale the file does not mention.
    line_number = models.PositiveIntegerField(null=True, blank=True)
    # The request id as the file (or our request) names it.
    request_ref = models.CharField(max_length=64)
    request = models.ForeignKey(
        PartnerRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=ItemStatus.choices)
    # What the file says (empty when it does not mention the request).
    meter_number = models.CharField(max_length=32, blank=True)
    sale_reference = models.CharField(max_length=24, blank=True)
    partner_time = models.DateTimeField(null=True, blank=True)
    in_file = models.BooleanField(default=True)
    file_reversed = models.BooleanField(default=False)
    # Net amounts: a sale's tender, 0 when reversed on that side or unknown to it.
    file_amount_minor = models.BigIntegerField(default=0)
    our_amount_minor = models.BigIntegerField(default=0)
    resolution = models.CharField(
        max_length=12, choices=Resolution.choices, default=Resolution.OPEN
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["file", "line_number", "id"]
        indexes = [models.Index(fields=["file", "status"], name="settlement_item_status")]

    def __str__(self) -> str:
        return f"{self.file.partner.code}:{self.file.business_date}:{self.request_ref}"

    @property
    def audit_org_path(self) -> str:
        return self.file.partner.org_unit.path

    @property
    def difference_minor(self) -> int:
        return self.file_amount_minor - self.our_amount_minor

    @property
    def amount_at_stake_minor(self) -> int:
        """What a resolution is about, for the approval threshold: the larger side."""
        return max(abs(self.file_amount_minor), abs(self.our_amount_minor))


class SettlementResolutionRequest(DecisionRequest):
    """A resolution above the approval threshold, waiting for a second person."""

    item = models.ForeignKey(
        SettlementItem, on_delete=models.PROTECT, related_name="resolution_requests"
    )
    action = models.CharField(max_length=10, choices=ResolutionAction.choices)
    reason = models.CharField(max_length=255)
    amount_minor = models.BigIntegerField()

    class Meta(DecisionRequest.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["item"],
                condition=models.Q(status="pending"),
                name="one_pending_resolution_per_item",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item}: {self.action}"

    @property
    def audit_org_path(self) -> str:
        return self.item.file.partner.org_unit.path


class FloatTopUpRequest(DecisionRequest):
    """Money a partner paid in, to be added to its float: asked by one person with the finance
    capability and approved by another (``partners.services.floats``); a top-up at or below
    ``GRIDVEND_FLOAT_TOP_UP_APPROVAL_MINOR`` is recorded approved by the one who asked.

    ``reference`` (the bank's deposit reference) is unique per partner: asking twice for the same
    deposit answers the first request.
    """

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="top_ups")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=64)
    note = models.CharField(max_length=255, blank=True)
    # The ledger entry the approval posted (none while pending or when rejected).
    journal_entry = models.OneToOneField(
        JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta(DecisionRequest.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "reference"], name="partner_top_up_reference_once"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="partner_top_up_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.code}: {self.reference}"

    @property
    def audit_org_path(self) -> str:
        return self.partner.org_unit.path
