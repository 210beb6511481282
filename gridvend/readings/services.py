"""Every write to reading books, readings and reading exceptions: scoped, permission-checked,
one transaction each, audited inside it.

A reading is checked against the meter's last accepted actual reading (``kernel.readings``): a
valid one replaces the estimates standing since that reading; one that fails a check is recorded
as an exception and raises a two-person decision (``approvals``) for a reading supervisor, who
accepts it, orders a re-read, or replaces it with an estimate. Readings of one meter are
serialised by the meter's row lock, the lock sales take.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.approvals import services as approvals
from gridvend.audit.changes import audited_change, record_created
from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope, unit_in_scope
from gridvend.kernel import inputs
from gridvend.kernel.errors import DomainError, ReasonRequired
from gridvend.kernel.inputs import InvalidInput
from gridvend.kernel.readings import (
    average_daily_use,
    check_reading,
    days_between,
    estimate_register,
    quantize_kwh,
    register_span,
    used_between,
)
from gridvend.meters.locks import lock_meter
from gridvend.meters.models import Meter, MeterStatus
from gridvend.org.models import OrgUnit
from gridvend.readings import permissions, selectors
from gridvend.readings.errors import (
    BookCodeInvalid,
    BookCodeTaken,
    BookCycleDayInvalid,
    BookMeterInABook,
    BookMeterNotInBook,
    BookMeterOtherUnit,
    BookReaderInvalid,
    BookUnitInvalid,
    ReadingAboveRegister,
    ReadingDuplicate,
    ReadingInFuture,
    ReadingMeterRetired,
    ReadingNoHistory,
    ReadingReaderUnknown,
    ReadingReferenceReused,
    ReadingTimeInvalid,
    ReadingValueInvalid,
)
from gridvend.readings.events import ReadingEvent
from gridvend.readings.locks import lock_book
from gridvend.readings.models import (
    LIVE_STATUSES,
    MAX_CYCLE_DAY,
    MAX_PHOTO_REFERENCE,
    BookMeter,
    ExceptionAction,
    ExceptionKind,
    MeterReading,
    ReadingBook,
    ReadingException,
    ReadingImport,
    ReadingSource,
    ReadingStatus,
)
from gridvend.transactions import use_case

# A register value: up to ten whole digits (no register has more than nine) and two decimals.
REGISTER_RULE = inputs.NumberRule(integer_digits=10, decimal_places=2, minimum=Decimal(0))
_BOOK_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$", re.ASCII)
MAX_TIME_TEXT = 40


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


# Reading the edge's values ----------------------------------------------------------------------


def parse_register(raw: object) -> Decimal:
    """A register value as typed or read from a file: kWh, zero or more, two decimals at most."""
    try:
        return inputs.parse_decimal(raw, REGISTER_RULE, field="register_kwh")
    except InvalidInput:
        raise ReadingValueInvalid() from None


def parse_read_at(raw: str) -> datetime.datetime:
    """An ISO 8601 time (``2026-06-30T14:05:00+03:00``, ``...Z``), or a local one
    (``2026-06-30 14:05``) in the utility's time zone."""
    text = raw.strip()
    if not text or len(text) > MAX_TIME_TEXT or not text.isascii():
        raise ReadingTimeInvalid()
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ReadingTimeInvalid() from None
    if not 1970 <= value.year <= 2199:
        raise ReadingTimeInvalid()
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(str(settings.TIME_ZONE)))
    return value.astimezone(datetime.UTC)


def _check_value(value: Decimal, meter: Meter) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ReadingValueInvalid()
    cleaned = parse_register(value)
    if cleaned >= register_span(meter.register_digits):
        raise ReadingAboveRegister(
            meter_number=meter.number, digits=meter.register_digits, value=f"{cleaned:f}"
        )
    return cleaned


# Books ------------------------------------------------------------------------------------------


def _clean_code(code: str) -> str:
    cleaned = code.strip().lower()
    if not _BOOK_CODE.fullmatch(cleaned):
        raise BookCodeInvalid()
    return cleaned


def _clean_name(name: str) -> str:
    cleaned = inputs.clean_text(name, max_length=120, field="name")
    if not cleaned:
        raise ValidationFailed(_("A reading book needs a name."), field="name")
    return cleaned


def _clean_cycle_day(day: int) -> int:
    if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= MAX_CYCLE_DAY:
        raise BookCycleDayInvalid(maximum=MAX_CYCLE_DAY)
    return day


def _check_reader(reader: User | None, unit: OrgUnit) -> None:
    if reader is None:
        return
    if not (permissions.can_be_reader(reader) and reader.org_unit.path.startswith(unit.path)):
        raise BookReaderInvalid(reader=reader.get_username())


def _check_book_unit(unit: OrgUnit) -> None:
    # A service centre is a leaf of the tree: its meters are read on one set of routes.
    if OrgUnit.objects.filter(parent=unit).exists():
        raise BookUnitInvalid(unit=unit.name)


@use_case
def create_book(
    *,
    actor: User,
    org_unit: OrgUnit,
    code: str,
    name: str,
    cycle_day: int,
    reader: User | None = None,
) -> ReadingBook:
    """A new, empty reading book for a service centre."""
    _require(permissions.can_manage_books(actor))
    require_unit_in_scope(actor, org_unit)
    _check_book_unit(org_unit)
    cleaned_code = _clean_code(code)
    cleaned_name = _clean_name(name)
    day = _clean_cycle_day(cycle_day)
    _check_reader(reader, org_unit)
    if ReadingBook.objects.filter(code=cleaned_code).exists():
        raise BookCodeTaken(book=cleaned_code)
    try:
        with transaction.atomic():
            book = ReadingBook.objects.create(
                org_unit=org_unit,
                reader=reader,
                code=cleaned_code,
                name=cleaned_name,
                cycle_day=day,
            )
            record_created(actor=actor, instance=book, event=ReadingEvent.BOOK_CREATED)
    except IntegrityError:
        raise BookCodeTaken(book=cleaned_code) from None
    return book


def update_book(
    *,
    actor: User,
    book: ReadingBook,
    name: str | None = None,
    cycle_day: int | None = None,
    reader: User | None = None,
    clear_reader: bool = False,
) -> ReadingBook:
    """Rename a book, move its cycle day, or assign (or clear) its reader."""
    _require(permissions.can_manage_books(actor))
    require_unit_in_scope(actor, book.org_unit)
    with transaction.atomic(durable=True):
        locked = lock_book(book)
        with audited_change(
            actor=actor, instance=locked, event=ReadingEvent.BOOK_UPDATED, skip_unchanged=True
        ):
            if name is not None:
                locked.name = _clean_name(name)
            if cycle_day is not None:
                locked.cycle_day = _clean_cycle_day(cycle_day)
            if clear_reader:
                locked.reader = None
            elif reader is not None:
                _check_reader(reader, locked.org_unit)
                locked.reader = reader
    return locked


def _renumber(book: ReadingBook, entries: list[BookMeter]) -> None:
    for position, entry in enumerate(entries, start=1):
        if entry.position != position:
            BookMeter.objects.filter(pk=entry.pk).update(position=position)
            entry.position = position


def _entries(book: ReadingBook) -> list[BookMeter]:
    return list(
        BookMeter.objects.filter(book=book).select_related("meter").order_by("position", "id")
    )


def add_book_meter(*, actor: User, book: ReadingBook, meter: Meter) -> BookMeter:
    """Put a meter of the book's service centre at the end of its reading order."""
    _require(permissions.can_manage_books(actor))
    require_unit_in_scope(actor, book.org_unit)
    require_unit_in_scope(actor, meter.org_unit)
    if meter.org_unit_id != book.org_unit_id:
        raise BookMeterOtherUnit(meter_number=meter.number)
    try:
        with transaction.atomic(durable=True):
            locked = lock_book(book)
            other = BookMeter.objects.filter(meter=meter).select_related("book").first()
            if other is not None:
                raise BookMeterInABook(meter_number=meter.number, book=other.book.code)
            entries = _entries(locked)
            entry = BookMeter.objects.create(book=locked, meter=meter, position=len(entries) + 1)
            record(
                actor=actor,
                event_type=ReadingEvent.BOOK_METER_ADDED,
                target=locked,
                after={"meter": meter.number, "position": entry.position},
            )
    except IntegrityError:
        # Two supervisors putting one meter in two books at once: its unique row decides.
        taken = BookMeter.objects.filter(meter=meter).select_related("book").first()
        raise BookMeterInABook(
            meter_number=meter.number, book=taken.book.code if taken else ""
        ) from None
    return entry


def remove_book_meter(*, actor: User, book: ReadingBook, meter: Meter) -> None:
    _require(permissions.can_manage_books(actor))
    require_unit_in_scope(actor, book.org_unit)
    with transaction.atomic(durable=True):
        locked = lock_book(book)
        entries = _entries(locked)
        found = next((e for e in entries if e.meter_id == meter.pk), None)
        if found is None:
            raise BookMeterNotInBook(meter_number=meter.number, book=locked.code)
        found.delete()
        _renumber(locked, [e for e in entries if e.pk != found.pk])
        record(
            actor=actor,
            event_type=ReadingEvent.BOOK_METER_REMOVED,
            target=locked,
            before={"meter": meter.number, "position": found.position},
        )


def move_book_meter(*, actor: User, book: ReadingBook, meter: Meter, offset: int) -> None:
    """Move a meter up (-1) or down (+1) the reading order; at either end it stays."""
    _require(permissions.can_manage_books(actor))
    require_unit_in_scope(actor, book.org_unit)
    if offset not in (-1, 1):
        raise ValidationFailed(_("Move a meter one place up or down."), field="offset")
    with transaction.atomic(durable=True):
        locked = lock_book(book)
        entries = _entries(locked)
        index = next((i for i, e in enumerate(entries) if e.meter_id == meter.pk), None)
        if index is None:
            raise BookMeterNotInBook(meter_number=meter.number, book=locked.code)
        target = index + offset
        if not 0 <= target < len(entries):
            return
        before = entries[index].position
        entries[index], entries[target] = entries[target], entries[index]
        _renumber(locked, entries)
        record(
            actor=actor,
            event_type=ReadingEvent.BOOK_METER_MOVED,
            target=locked,
            before={"meter": meter.number, "position": before},
            after={"meter": meter.number, "position": target + 1},
        )


# Readings ---------------------------------------------------------------------------------------


def _facts(reading: MeterReading) -> dict[str, Any]:
    return {
        "meter": reading.meter.number,
        "register_kwh": f"{reading.register_kwh:f}",
        "read_at": reading.read_at.isoformat(),
        "source": reading.source,
        "status": reading.status,
        "exception": reading.exception_kind,
        "consumption_kwh": (
            None if reading.consumption_kwh is None else f"{reading.consumption_kwh:f}"
        ),
        "roll_over": reading.is_roll_over,
        "previous": reading.previous_id,
        "book": reading.book.code if reading.book else None,
        "reader": reading.reader.get_username() if reading.reader else None,
        "import": reading.reading_import_id,
    }


def _replace_estimates(reading: MeterReading, base: MeterReading | None) -> int:
    """An actual reading corrects the estimates standing since the last actual before it."""
    return selectors.open_estimates(
        reading.meter, after=base.read_at if base else None, before=reading.read_at
    ).update(status=ReadingStatus.REPLACED, replaced_by=reading)


def _book_of(meter: Meter, book: ReadingBook | None) -> ReadingBook | None:
    if book is not None:
        return book
    entry = BookMeter.objects.filter(meter=meter).select_related("book").first()
    return entry.book if entry is not None else None


def _check_time(read_at: datetime.datetime, now: datetime.datetime) -> None:
    if timezone.is_naive(read_at):
        raise ReadingTimeInvalid()
    if read_at > now:
        raise ReadingInFuture()


def _check_duplicate(meter: Meter, read_at: datetime.datetime) -> None:
    if MeterReading.objects.filter(meter=meter, read_at=read_at, status__in=LIVE_STATUSES).exists():
        raise ReadingDuplicate(meter_number=meter.number, read_at=read_at.isoformat())


def record_actual(
    *,
    actor: User,
    meter: Meter,
    register_kwh: Decimal,
    read_at: datetime.datetime,
    source: str,
    now: datetime.datetime,
    reader: User | None = None,
    book: ReadingBook | None = None,
    note: str = "",
    reading_import: ReadingImport | None = None,
    client_reference: str = "",
    photo_reference: str = "",
) -> MeterReading:
    """A step of the caller's transaction: check and record one actual reading (the screen, a
    reading sheet and a file all come here). The caller has checked the actor's right to it.

    With a ``client_reference`` (a handheld's upload) a repeat of the same reading returns the
    first one, changing nothing; the reference with another meter, value or time is refused."""
    require_unit_in_scope(actor, meter.org_unit)
    _check_time(read_at, now)
    if reader is not None and not unit_in_scope(actor, reader.org_unit):
        raise ReadingReaderUnknown(reader=reader.get_username())
    cleaned_note = inputs.clean_text(note, max_length=255, field="note")
    photo = inputs.clean_text(photo_reference, max_length=MAX_PHOTO_REFERENCE, field="photo")
    locked = lock_meter(meter)
    if client_reference:
        earlier = _by_reference(client_reference, locked, register_kwh, read_at)
        if earlier is not None:
            return earlier
    if locked.status == MeterStatus.RETIRED:
        raise ReadingMeterRetired(meter_number=locked.number)
    value = _check_value(register_kwh, locked)
    _check_duplicate(locked, read_at)
    last = selectors.last_valid(locked)
    verdict = check_reading(
        register_kwh=value,
        read_at=read_at,
        last=selectors.point_of(last) if last else None,
        history=selectors.history(locked, upto=last) if last else [],
        digits=locked.register_digits,
    )
    try:
        with transaction.atomic():
            reading = MeterReading.objects.create(
                meter=locked,
                register_kwh=value,
                read_at=read_at,
                source=source,
                status=ReadingStatus.VALID if verdict.is_valid else ReadingStatus.EXCEPTION,
                exception_kind=verdict.check.value if verdict.check else "",
                consumption_kwh=verdict.consumption_kwh,
                is_roll_over=verdict.roll_over,
                previous=last,
                reader=reader,
                book=_book_of(locked, book),
                reading_import=reading_import,
                note=cleaned_note,
                client_reference=client_reference,
                photo_reference=photo,
                entered_by=actor,
                created_at=now,
            )
    except IntegrityError:
        if (
            client_reference
            and MeterReading.objects.filter(client_reference=client_reference).exists()
        ):
            raise ReadingReferenceReused(reference=client_reference) from None
        # The same reading sent twice at once: the unique (meter, time) row decides.
        raise ReadingDuplicate(meter_number=locked.number, read_at=read_at.isoformat()) from None
    if verdict.is_valid:
        _replace_estimates(reading, last)
    record(actor=actor, event_type=ReadingEvent.RECORDED, target=reading, after=_facts(reading))
    if verdict.check is not None:
        approvals.request_decision(
            EXCEPTION_DECISION,
            actor=actor,
            after={"reading": reading.pk, "meter": locked.number, "kind": verdict.check.value},
            reading=reading,
            exception_kind=verdict.check.value,
            requested_at=now,
        )
    return reading


def _by_reference(
    reference: str, meter: Meter, register_kwh: Decimal, read_at: datetime.datetime
) -> MeterReading | None:
    """The reading an upload's reference already made (its meter locked), or None."""
    earlier = MeterReading.objects.filter(client_reference=reference).first()
    if earlier is None:
        return None
    same = (
        earlier.meter_id == meter.pk
        and earlier.read_at == read_at
        and isinstance(register_kwh, Decimal)
        and register_kwh.is_finite()
        and earlier.register_kwh == register_kwh
    )
    if not same:
        raise ReadingReferenceReused(reference=reference)
    return earlier


@use_case
def record_reading(
    *,
    actor: User,
    meter: Meter,
    register_kwh: Decimal,
    read_at: datetime.datetime,
    source: str = ReadingSource.SCREEN,
    reader: User | None = None,
    book: ReadingBook | None = None,
    note: str = "",
    now: datetime.datetime | None = None,
    client_reference: str = "",
    photo_reference: str = "",
) -> MeterReading:
    """One actual reading, entered on screen or sent from a handheld (a handheld's upload
    carries its reference, which makes a repeat return the first reading, and optionally the
    reference of its photo of the register)."""
    _require(permissions.can_enter_readings(actor))
    if source not in (ReadingSource.SCREEN, ReadingSource.HANDHELD):
        raise ValidationFailed(_("Unknown source of a reading."), field="source")
    return record_actual(
        actor=actor,
        meter=meter,
        register_kwh=register_kwh,
        read_at=read_at,
        source=source,
        now=now or timezone.now(),
        reader=reader,
        book=book,
        note=note,
        client_reference=client_reference,
        photo_reference=photo_reference,
    )


@dataclass(frozen=True)
class RowResult:
    """What became of one row of a reading sheet or a meter-data file."""

    row: int
    meter: str
    result: str  # "accepted", "exception" or "refused"
    code: str = ""  # the exception kind, or the refusal's stable code
    message: str = ""
    reading: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "meter": self.meter,
            "result": self.result,
            "code": self.code,
            "message": self.message,
            "reading": self.reading,
        }


ACCEPTED, EXCEPTION, REFUSED = "accepted", "exception", "refused"


def run_row(row: int, meter_label: str, step: Callable[[], MeterReading]) -> RowResult:
    """One row in its own savepoint: a refusal undoes only that row."""
    try:
        with transaction.atomic():
            reading = step()
    except IntegrityError:
        return RowResult(row, meter_label, REFUSED, ReadingDuplicate.code, _duplicate_text())
    except DomainError as exc:
        return RowResult(row, meter_label, REFUSED, str(exc.code), str(exc.message))
    if reading.status == ReadingStatus.EXCEPTION:
        label = str(ExceptionKind(reading.exception_kind).label)
        return RowResult(row, meter_label, EXCEPTION, reading.exception_kind, label, reading.pk)
    return RowResult(row, meter_label, ACCEPTED, "", "", reading.pk)


def _duplicate_text() -> str:
    return _("This meter already has a reading at that time.")


def record_sheet(
    *,
    actor: User,
    book: ReadingBook,
    read_at: datetime.datetime,
    values: list[tuple[Meter, Decimal]],
    reader: User | None = None,
    now: datetime.datetime | None = None,
) -> list[RowResult]:
    """A book's reading sheet: the values read along the route at one time, in one transaction;
    each meter's reading is accepted, raised as an exception, or refused on its own."""
    _require(permissions.can_enter_readings(actor))
    require_unit_in_scope(actor, book.org_unit)
    moment = now or timezone.now()
    results = []
    with transaction.atomic(durable=True):
        for row, (meter, value) in enumerate(values, start=1):
            if meter.org_unit_id != book.org_unit_id:
                raise BookMeterOtherUnit(meter_number=meter.number)

            def step(meter: Meter = meter, value: Decimal = value) -> MeterReading:
                return record_actual(
                    actor=actor,
                    meter=meter,
                    register_kwh=value,
                    read_at=read_at,
                    source=ReadingSource.SCREEN,
                    now=moment,
                    reader=reader or book.reader,
                    book=book,
                )

            results.append(run_row(row, meter.number, step))
    return results


@dataclass(frozen=True)
class Upload:
    """One reading of a handheld's upload: its place in the message, its reference (unique per
    terminal and order), the meter, what was read and when."""

    row: int
    reference: str
    meter: Meter
    register_kwh: Decimal
    read_at: datetime.datetime
    book: ReadingBook | None = None
    photo_reference: str = ""
    note: str = ""


def record_uploads(
    *, actor: User, uploads: list[Upload], now: datetime.datetime | None = None
) -> list[RowResult]:
    """A handheld's readings, read along the route by ``actor``, in one transaction: each
    accepted, raised as an exception (a check failed, exactly as on screen) or refused on its
    own; a repeat of an upload's reference returns its first reading and writes nothing."""
    _require(permissions.can_enter_readings(actor))
    moment = now or timezone.now()
    results = []
    with transaction.atomic(durable=True):
        for upload in uploads:

            def step(upload: Upload = upload) -> MeterReading:
                return record_actual(
                    actor=actor,
                    meter=upload.meter,
                    register_kwh=upload.register_kwh,
                    read_at=upload.read_at,
                    source=ReadingSource.HANDHELD,
                    now=moment,
                    reader=actor,
                    book=upload.book,
                    note=upload.note,
                    client_reference=upload.reference,
                    photo_reference=upload.photo_reference,
                )

            results.append(run_row(upload.row, upload.meter.number, step))
    return results


# Estimates --------------------------------------------------------------------------------------


def estimate_at(
    *,
    actor: User,
    meter: Meter,
    at: datetime.datetime,
    now: datetime.datetime,
    book: ReadingBook | None = None,
) -> MeterReading:
    """A step of the caller's transaction, with the meter locked: an estimated reading at ``at``
    from the last actual reading before it and the meter's own average daily use."""
    last = selectors.last_valid(meter, before=at)
    if last is None:
        raise ReadingNoHistory(meter_number=meter.number)
    average = average_daily_use(selectors.history(meter, upto=last))
    if average is None:
        raise ReadingNoHistory(meter_number=meter.number)
    _check_duplicate(meter, at)
    value, used = estimate_register(
        last=selectors.point_of(last), average=average, at=at, digits=meter.register_digits
    )
    # Consumption since the reading before this one: an earlier estimate may stand since the
    # last actual; the register itself is always reckoned from the last actual.
    earlier = (
        selectors.open_estimates(meter, after=last.read_at, before=at)
        .order_by("-read_at", "-id")
        .first()
    )
    if earlier is not None:
        used = quantize_kwh(average * days_between(earlier.read_at, at))
    estimate = MeterReading.objects.create(
        meter=meter,
        register_kwh=value,
        read_at=at,
        source=ReadingSource.ESTIMATE,
        status=ReadingStatus.ESTIMATED,
        consumption_kwh=used,
        is_roll_over=value < last.register_kwh,
        previous=last,
        book=_book_of(meter, book),
        entered_by=actor,
        created_at=now,
    )
    record(
        actor=actor,
        event_type=ReadingEvent.ESTIMATED,
        target=estimate,
        after=_facts(estimate) | {"average_daily_kwh": f"{quantize_kwh(average):f}"},
    )
    return estimate


# Exceptions -------------------------------------------------------------------------------------


def _may_decide(actor: User, exception: ReadingException) -> None:
    _require(permissions.can_review_readings(actor))
    require_unit_in_scope(actor, exception.reading.meter.org_unit)


EXCEPTION_DECISION = approvals.DecisionType(
    model=ReadingException,
    requested=ReadingEvent.EXCEPTION_RAISED,
    approved=ReadingEvent.EXCEPTION_DECIDED,
    rejected=ReadingEvent.EXCEPTION_DISMISSED,
    may_decide=_may_decide,
    subject="reading_exception",
    related=("reading", "reading__meter"),
)


def _accept(reading: MeterReading) -> None:
    base = selectors.last_valid(reading.meter, before=reading.read_at)
    if reading.exception_kind == ExceptionKind.OUT_OF_SEQUENCE:
        # Filed into the history where it belongs, its use reckoned from the reading before it.
        used = (
            used_between(base.register_kwh, reading.register_kwh, reading.meter.register_digits)
            if base
            else None
        )
        if base is None:
            reading.consumption_kwh, reading.is_roll_over = None, False
        elif used is None:
            reading.consumption_kwh = reading.register_kwh - base.register_kwh
        else:
            reading.consumption_kwh, reading.is_roll_over = used
    reading.previous = base
    reading.status = ReadingStatus.VALID
    reading.save(update_fields=["status", "consumption_kwh", "is_roll_over", "previous"])
    _replace_estimates(reading, base)


def decide_exception(
    *,
    actor: User,
    exception: ReadingException,
    action: str,
    note: str = "",
    now: datetime.datetime | None = None,
) -> MeterReading:
    """Accept the reading, order a re-read (with a reason), or replace it with an estimate.

    A reading supervisor other than whoever recorded the reading decides, once (approvals);
    the reading, the decision and its audit event are one transaction. Returns the reading
    that stands now (the estimate, for an estimate)."""
    if action not in ExceptionAction.values:
        raise ValidationFailed(_("Choose what to do with the reading."), field="action")
    if action == ExceptionAction.REREAD and not note.strip():
        raise ReasonRequired()
    moment = now or timezone.now()

    def carry_out(locked: ReadingException) -> approvals.Outcome[MeterReading]:
        meter = lock_meter(locked.reading.meter)
        reading = MeterReading.objects.select_related("meter").get(pk=locked.reading_id)
        reading.meter = meter
        keep: dict[str, Any] = {"action": action}
        if action == ExceptionAction.ACCEPT:
            _accept(reading)
            standing = reading
        elif action == ExceptionAction.REREAD:
            reading.status = ReadingStatus.REREAD
            reading.save(update_fields=["status"])
            standing = reading
        else:
            reading.status = ReadingStatus.REPLACED
            reading.save(update_fields=["status"])
            standing = estimate_at(
                actor=actor, meter=meter, at=reading.read_at, now=moment, book=reading.book
            )
            MeterReading.objects.filter(pk=reading.pk).update(replaced_by=standing)
            keep["estimate"] = standing
        return approvals.Outcome(
            standing,
            keep=keep,
            audit={"action": action, "reading": reading.pk, "standing": standing.pk},
        )

    return approvals.approve_decision(
        EXCEPTION_DECISION,
        actor=actor,
        request=exception,
        note=note,
        now=moment,
        carry_out=carry_out,
    )
