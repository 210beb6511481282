"""What the phone channels keep: the language each phone chose, every USSD session (server-side
state, what it did, the aggregator's end-of-session report), every inbound SMS (once per
aggregator id) and every delivery report, with the failed ones flagged for customer care."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.jobs.models import OutboxMessage
from gridvend.meters.models import FaultReport
from gridvend.mobilemoney.models import MobileProvider, StkPush


class PhoneProfile(models.Model):
    """The language a phone chose (on the first USSD screen or with ``LANG``)."""

    phone = models.CharField(max_length=32, unique=True)  # E.164
    language = models.CharField(max_length=10)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.phone} {self.language}"


class UssdState(models.TextChoices):
    OPEN = "open", _("Open")
    PAYING = "paying", _("Asking the phone to pay")
    ENDED = "ended", _("Ended")
    EXPIRED = "expired", _("Timed out")


class UssdSession(models.Model):
    """One USSD session (the aggregator's ``sessionId``): every hop replays the whole input path
    through the menus; the final screen is kept so that a repeated final hop is answered from
    here and never pushes or sells twice."""

    provider = models.ForeignKey(
        MobileProvider, on_delete=models.PROTECT, related_name="ussd_sessions"
    )
    session_id = models.CharField(max_length=100, unique=True)
    phone = models.CharField(max_length=32, db_index=True)
    service_code = models.CharField(max_length=40, blank=True)
    network_code = models.CharField(max_length=10, blank=True)
    asked_language = models.BooleanField(default=False)
    language = models.CharField(max_length=10, blank=True)
    state = models.CharField(max_length=8, choices=UssdState.choices, default=UssdState.OPEN)
    hops = models.PositiveIntegerField(default=0)
    last_input = models.CharField(max_length=400, blank=True)
    last_reply = models.CharField(max_length=400, blank=True)
    action = models.CharField(max_length=20, blank=True)  # buy, last_token, fault...
    outcome = models.CharField(max_length=60, blank=True)  # a refusal's code, or ""
    final_input = models.CharField(max_length=400, blank=True)
    stk_push = models.ForeignKey(
        StkPush, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    fault = models.ForeignKey(
        FaultReport, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # The aggregator's end-of-session notification (CHANNELS.md §1.4).
    ended_status = models.CharField(max_length=20, blank=True)
    ended_cost = models.CharField(max_length=30, blank=True)
    ended_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    ended_hops = models.PositiveIntegerField(null=True, blank=True)
    ended_error = models.CharField(max_length=200, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.session_id

    @property
    def audit_org_path(self) -> str:
        return self.provider.partner.org_unit.path


class SmsCommand(models.TextChoices):
    BUY = "BUY", "BUY"
    TOKEN = "TOKEN", "TOKEN"
    BAL = "BAL", "BAL"
    HELP = "HELP", "HELP"
    LANG = "LANG", "LANG"
    UNKNOWN = "", _("Not a command")


class InboundSms(models.Model):
    """A message a customer sent to the short code, once per aggregator ``id`` (the aggregator
    posts again until it is acknowledged), what it asked and what was answered."""

    # The paybill the phone channels sold through when it came; none when there was none (the
    # postpaid balance and the help are answered without one).
    provider = models.ForeignKey(
        MobileProvider, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    message_id = models.CharField(max_length=100, unique=True)
    phone = models.CharField(max_length=32, db_index=True)
    to = models.CharField(max_length=20, blank=True)
    text = models.CharField(max_length=480, blank=True)
    sent_at_text = models.CharField(max_length=40, blank=True)  # ``date`` as sent
    link_id = models.CharField(max_length=100, blank=True)
    network_code = models.CharField(max_length=10, blank=True)
    command = models.CharField(max_length=5, choices=SmsCommand.choices, blank=True)
    outcome = models.CharField(max_length=60, blank=True)  # a refusal's code, or ""
    reply_key = models.CharField(max_length=200, blank=True)
    stk_push = models.ForeignKey(
        StkPush, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return self.message_id

    @property
    def audit_org_path(self) -> str:
        return self.provider.partner.org_unit.path if self.provider is not None else ""


class DeliveryReport(models.Model):
    """The aggregator's delivery report of a message we sent, once per (message id, status): a
    message moves Sent → Success or Failed, and each step is its own report. A final failure of
    a message is sent again (at most ``RESENDS`` times), then flagged for customer care."""

    message_id = models.CharField(max_length=100)
    status = models.CharField(max_length=20)
    phone = models.CharField(max_length=32, blank=True)
    network_code = models.CharField(max_length=10, blank=True)
    failure_reason = models.CharField(max_length=60, blank=True)
    retry_count = models.PositiveIntegerField(null=True, blank=True)
    outbox = models.ForeignKey(
        OutboxMessage, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    resent_as = models.ForeignKey(
        OutboxMessage, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    needs_care = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["message_id", "status"], name="phone_dlr_once"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.status}"
