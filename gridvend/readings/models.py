"""Reading books (a service centre's routes, in reading order), meter readings, reading files and
the exceptions a supervisor decides.

Readings belong to meters, prepaid or postpaid (a prepaid meter has a cumulative kWh register
too); books belong to service centres. Postpaid billing reads the valid and estimated readings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.approvals.models import DecisionRequest
from gridvend.kernel.readings import ReadingCheck
from gridvend.meters.models import Meter
from gridvend.org.models import OrgUnit

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields

MAX_CYCLE_DAY = 28  # every month has it
REGISTER_MAX_DIGITS = 12  # of which REGISTER_PLACES after the point
REGISTER_PLACES = 2
MAX_PHOTO_REFERENCE = 120


class ReadingSource(models.TextChoices):
    SCREEN = "screen", _("Entered on screen")
    HANDHELD = "handheld", _("Handheld")
    IMPORT = "import", _("Imported file")
    ESTIMATE = "estimate", _("Estimate")


class ReadingStatus(models.TextChoices):
    VALID = "valid", _("Valid")
    EXCEPTION = "exception", _("Exception")
    ESTIMATED = "estimated", _("Estimated")
    # Superseded: an estimate corrected by the next actual reading, or an exception a supervisor
    # replaced with an estimate.
    REPLACED = "replaced", _("Replaced")
    # An exception a supervisor sent back to be read again: kept, but never counted.
    REREAD = "reread", _("Re-read ordered")


# Readings that stand: one per meter and instant.
LIVE_STATUSES = (ReadingStatus.VALID, ReadingStatus.EXCEPTION, ReadingStatus.ESTIMATED)


class ExceptionKind(models.TextChoices):
    NEGATIVE_CONSUMPTION = ReadingCheck.NEGATIVE_CONSUMPTION.value, _("Lower than the last")
    ZERO_CONSUMPTION = ReadingCheck.ZERO_CONSUMPTION.value, _("Zero consumption")
    SPIKE = ReadingCheck.SPIKE.value, _("Spike against the meter's history")
    OUT_OF_SEQUENCE = ReadingCheck.OUT_OF_SEQUENCE.value, _("Older than the last reading")


class ReadingBook(models.Model):
    """A route: the meters of one service centre that one reader reads, in reading order, once
    a month around ``cycle_day``."""

    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="reading_books")
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cycle_day = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    audited_fields: ClassVar[AuditedFields] = (
        "code",
        "name",
        "org_unit",
        ("reader", lambda book: book.reader.username if book.reader else None),
        "cycle_day",
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cycle_day__gte=1) & models.Q(cycle_day__lte=MAX_CYCLE_DAY),
                name="reading_book_cycle_day_in_month",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class BookMeter(models.Model):
    """A meter's place in its book; a meter is in one book at most."""

    book = models.ForeignKey(ReadingBook, on_delete=models.CASCADE, related_name="entries")
    meter = models.OneToOneField(Meter, on_delete=models.PROTECT, related_name="book_entry")
    position = models.PositiveIntegerField()
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["book", "position", "id"]
        indexes = [models.Index(fields=["book", "position"], name="book_meter_order")]

    def __str__(self) -> str:
        return f"{self.book.code} #{self.position}: {self.meter.number}"


class ReadingImport(models.Model):
    """One meter-data file as imported: its digest (a second upload of it is refused) and what
    became of each row."""

    digest = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=255)
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    row_count = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    exception_count = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)
    # [{"row", "meter", "result", "code", "message", "reading"}], in the file's order.
    results = models.JSONField(default=list)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"reading file {self.pk} {self.filename}"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class MeterReading(models.Model):
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="readings")
    register_kwh = models.DecimalField(
        max_digits=REGISTER_MAX_DIGITS, decimal_places=REGISTER_PLACES
    )
    read_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=ReadingSource.choices)
    status = models.CharField(max_length=10, choices=ReadingStatus.choices)
    exception_kind = models.CharField(max_length=24, choices=ExceptionKind.choices, blank=True)
    # kWh used since ``previous`` (an estimate: since the reading before it), roll-over included.
    consumption_kwh = models.DecimalField(
        max_digits=REGISTER_MAX_DIGITS, decimal_places=REGISTER_PLACES, null=True, blank=True
    )
    is_roll_over = models.BooleanField(default=False)
    # The accepted actual reading the consumption is reckoned from.
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The reading that took this one's place: the next actual for an estimate, the estimate a
    # supervisor put in place of an exception.
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced"
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    book = models.ForeignKey(
        ReadingBook, null=True, blank=True, on_delete=models.SET_NULL, related_name="readings"
    )
    reading_import = models.ForeignKey(
        ReadingImport, null=True, blank=True, on_delete=models.PROTECT, related_name="readings"
    )
    note = models.CharField(max_length=255, blank=True)
    # A handheld's own reference for the upload (``<terminal id>:<order>``): a repeat of the
    # upload returns this reading. Empty for the screen, a sheet and files.
    client_reference = models.CharField(max_length=64, blank=True, default="")
    # Where the reader's photo of the register is kept (the handheld's own reference).
    photo_reference = models.CharField(max_length=MAX_PHOTO_REFERENCE, blank=True, default="")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-read_at", "-id"]
        indexes = [
            models.Index(fields=["meter", "status", "read_at"], name="reading_meter_status_time"),
            # The readings list's order, walked by keyset.
            models.Index(fields=["read_at", "id"], name="reading_list_order"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "read_at"],
                condition=models.Q(status__in=[s.value for s in LIVE_STATUSES]),
                name="one_live_reading_per_meter_and_time",
            ),
            models.CheckConstraint(
                condition=models.Q(register_kwh__gte=0), name="reading_register_not_negative"
            ),
            models.UniqueConstraint(
                fields=["client_reference"],
                condition=~models.Q(client_reference=""),
                name="reading_client_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter.number} {self.register_kwh} kWh at {self.read_at:%Y-%m-%d %H:%M}"

    @property
    def audit_org_path(self) -> str:
        return self.meter.org_unit.path

    @property
    def is_actual(self) -> bool:
        return self.source != ReadingSource.ESTIMATE


class ExceptionAction(models.TextChoices):
    ACCEPT = "accept", _("Accept the reading")
    REREAD = "reread", _("Order a re-read")
    ESTIMATE = "estimate", _("Replace with an estimate")


class ReadingException(DecisionRequest):
    """A reading that failed a check, waiting for a reading supervisor other than whoever
    recorded it (the approvals mechanism): accept it, order a re-read, or estimate instead."""

    reading = models.OneToOneField(MeterReading, on_delete=models.PROTECT, related_name="exception")
    exception_kind = models.CharField(max_length=24, choices=ExceptionKind.choices)
    action = models.CharField(max_length=10, choices=ExceptionAction.choices, blank=True)
    estimate = models.ForeignKey(
        MeterReading, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta(DecisionRequest.Meta):
        indexes = [models.Index(fields=["status", "requested_at"], name="reading_exc_open")]

    def __str__(self) -> str:
        return f"reading exception {self.pk} ({self.exception_kind})"

    @property
    def audit_org_path(self) -> str:
        return self.reading.meter.org_unit.path
