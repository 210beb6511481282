"""A handheld terminal (its binding to a device, its agent and service centre, its key and its
replay counter), and the store of its gateway sessions and raw messages.

The terminal's key is sealed under the master key (``keys.crypto``), as vending keys are; the
one-time enrolment code too, until it is used. Raw messages keep both the bytes on the wire and
the plain message after decryption: the auditor's only (``permissions.can_read_raw_messages``).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.audit.changes import AuditedFields
from gridvend.identity.models import User
from gridvend.org.models import OrgUnit, VendingPoint


class TerminalStatus(models.TextChoices):
    # Registered in the back office, waiting for the device to enrol with its one-time code.
    PENDING = "pending", _("Waiting for enrolment")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REVOKED = "revoked", _("Revoked")


class Cipher(models.TextChoices):
    AES_GCM = "aes256gcm", _("AES-256-GCM")
    # Legacy terminals: 3DES-CBC, encrypt-then-MAC (CMAC over 3DES).
    DES3_CBC_MAC = "des3cbcmac", _("3DES-CBC with MAC (legacy)")


class Terminal(models.Model):
    # The identifier the terminal writes in every frame's header (ASCII letters and digits).
    terminal_id = models.CharField(max_length=16, unique=True)
    # The service centre it belongs to: its people manage it and see it.
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="terminals")
    agent = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="terminals", null=True, blank=True
    )
    # Where its sales and collections are booked (a vending point of the handheld channel).
    vending_point = models.ForeignKey(
        VendingPoint, on_delete=models.PROTECT, related_name="terminals", null=True, blank=True
    )
    status = models.CharField(
        max_length=12, choices=TerminalStatus.choices, default=TerminalStatus.PENDING
    )
    cipher = models.CharField(max_length=12, choices=Cipher.choices, default=Cipher.AES_GCM)
    # Bound at the first enrolment; a re-enrolment (key rotation) must come from the same device.
    serial_number = models.CharField(max_length=32, blank=True)
    imsi = models.CharField(max_length=15, blank=True)
    imei = models.CharField(max_length=15, blank=True)
    app_version = models.CharField(max_length=32, blank=True)
    # The one-time enrolment code, sealed, until it is used or expires.
    enrolment_nonce = models.BinaryField(null=True, blank=True, editable=False)
    enrolment_ciphertext = models.BinaryField(null=True, blank=True, editable=False)
    enrolment_tag = models.BinaryField(null=True, blank=True, editable=False)
    enrolment_master_id = models.CharField(max_length=16, blank=True)
    enrolment_expires_at = models.DateTimeField(null=True, blank=True)
    # The terminal's key, sealed; version 0 means none yet (enrolment pending).
    key_version = models.PositiveIntegerField(default=0)
    key_nonce = models.BinaryField(null=True, blank=True, editable=False)
    key_ciphertext = models.BinaryField(null=True, blank=True, editable=False)
    key_tag = models.BinaryField(null=True, blank=True, editable=False)
    key_master_id = models.CharField(max_length=16, blank=True)
    # The highest sequence number accepted under the current key (replay guard).
    last_sequence = models.BigIntegerField(default=0)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = (
        "terminal_id",
        "org_unit",
        "agent",
        "vending_point",
        "status",
        "cipher",
        "serial_number",
        "imsi",
        "imei",
        "key_version",
        "status_reason",
    )

    class Meta:
        ordering = ["terminal_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(last_sequence__gte=0), name="terminals_sequence_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.terminal_id

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path

    @property
    def key_ref(self) -> str:
        """The associated data the sealed key is bound to: the terminal and the key's version."""
        return f"terminal:{self.pk}:{self.key_version}"

    @property
    def enrolment_ref(self) -> str:
        return f"terminal-enrolment:{self.pk}"


class SessionOutcome(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    REFUSED = "refused", _("Refused")
    TIMED_OUT = "timed_out", _("Timed out")
    CLOSED = "closed", _("Closed by the terminal")


class TerminalSession(models.Model):
    """One connection to the gateway (one transaction, as the terminals connect)."""

    terminal = models.ForeignKey(
        Terminal, on_delete=models.PROTECT, related_name="sessions", null=True, blank=True
    )
    peer_host = models.GenericIPAddressField()
    peer_port = models.PositiveIntegerField()
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=12, choices=SessionOutcome.choices, default=SessionOutcome.OPEN
    )
    operation = models.CharField(max_length=24, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]

    def __str__(self) -> str:
        return f"terminal session {self.pk}"


class Direction(models.TextChoices):
    IN = "in", _("From the terminal")
    OUT = "out", _("To the terminal")


class Stage(models.TextChoices):
    WIRE = "wire", _("On the wire")
    PLAIN = "plain", _("Decrypted")


class TerminalMessage(models.Model):
    """The bytes of one message as they crossed the wire, or the same message in the clear."""

    session = models.ForeignKey(TerminalSession, on_delete=models.PROTECT, related_name="messages")
    terminal = models.ForeignKey(
        Terminal, on_delete=models.PROTECT, related_name="messages", null=True, blank=True
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    stage = models.CharField(max_length=5, choices=Stage.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    content = models.BinaryField(editable=False)
    byte_count = models.PositiveIntegerField()
    problem = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["terminal", "-occurred_at"], name="terminals_msg_terminal_time")
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.stage} {self.byte_count} bytes"


class AgentPin(models.Model):
    """A field agent's PIN for logging in on a terminal (hashed), and its lockout."""

    agent = models.OneToOneField(User, on_delete=models.PROTECT, related_name="terminal_pin")
    pin_hash = models.CharField(max_length=200)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    set_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"PIN of {self.agent_id}"


class AgentSession(models.Model):
    """An agent logged in on a terminal: the token the terminal sends with each operation is
    kept as its SHA-256 digest."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="agent_sessions")
    agent = models.ForeignKey(User, on_delete=models.PROTECT, related_name="terminal_sessions")
    token_digest = models.CharField(max_length=64, unique=True)
    opened_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]

    def __str__(self) -> str:
        return f"agent session {self.pk}"


class AgentCash(models.Model):
    """A field agent's cash in transit: the ledger account (``transit:agent:<id>``) whose kept
    balance is the cash the agent holds, and the limit above which the database refuses a
    further collection or cash sale. One per agent, whatever the number of terminals."""

    agent = models.OneToOneField(User, on_delete=models.PROTECT, related_name="agent_cash")
    account = models.OneToOneField(
        "ledger.Account", on_delete=models.PROTECT, related_name="agent_cash"
    )
    currency = models.CharField(max_length=3)
    limit_minor = models.BigIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = ("limit_minor",)

    class Meta:
        ordering = ["agent_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(limit_minor__gte=0), name="terminals_cash_limit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"cash in transit of {self.agent_id}"

    @property
    def audit_org_path(self) -> str:
        return self.agent.org_unit.path


class CashHandIn(models.Model):
    """The office counted an agent's cash and took it: the agent's cash in transit is cleared
    (to the office's cash), the difference booked to the agent's difference account."""

    agent = models.ForeignKey(User, on_delete=models.PROTECT, related_name="cash_hand_ins")
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="cash_hand_ins")
    # The form's one-time key: a second submit of the same form is the same hand-in.
    request_key = models.CharField(max_length=40, unique=True)
    currency = models.CharField(max_length=3)
    expected_minor = models.BigIntegerField()
    counted_minor = models.BigIntegerField()
    # counted - expected: negative is a shortage, positive an overage.
    difference_minor = models.BigIntegerField()
    journal_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    received_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    business_date = models.DateField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(counted_minor__gte=0), name="terminals_handin_counted_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"hand-in {self.pk}"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class AgentDayEnd(models.Model):
    """The totals a terminal reported at the agent's end of day, beside the central ledger's
    at that moment; the office confirms them with the next hand-in."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="day_ends")
    agent = models.ForeignKey(User, on_delete=models.PROTECT, related_name="day_ends")
    business_date = models.DateField()
    reported = models.JSONField()
    central = models.JSONField()
    is_matching = models.BooleanField()
    reported_at = models.DateTimeField(default=timezone.now)
    hand_in = models.ForeignKey(
        CashHandIn, on_delete=models.PROTECT, related_name="day_ends", null=True, blank=True
    )

    class Meta:
        ordering = ["-business_date", "-pk"]
        constraints = [
            # One open report per terminal, agent and day; a report sent after a hand-in
            # confirmed the day's earlier one waits for the next hand-in.
            models.UniqueConstraint(
                fields=["terminal", "agent", "business_date"],
                condition=models.Q(hand_in__isnull=True),
                name="terminals_day_end_open_once",
            ),
        ]

    def __str__(self) -> str:
        return f"day end {self.terminal_id} {self.business_date}"


class CashReconciliation(models.Model):
    """One agent's day: the gateway's stored replies (collections, cash sales, reversals it
    answered) against the postings to the agent's cash in transit. Run again, it is replaced."""

    agent = models.ForeignKey(User, on_delete=models.PROTECT, related_name="cash_reconciliations")
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    currency = models.CharField(max_length=3)
    gateway = models.JSONField()
    ledger = models.JSONField()
    differences = models.JSONField(default=list)
    is_clean = models.BooleanField()
    run_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-business_date", "agent_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "business_date"], name="terminals_cash_reconcile_once"
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.agent_id} {self.business_date}"
