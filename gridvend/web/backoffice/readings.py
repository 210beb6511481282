"""Back-office screens for meter reading: reading books (routes) and their order, a book's
reading sheet, one reading, a meter-data file and its per-row result, the readings list and the
exceptions a reading supervisor decides. The rules are the readings services'."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from gridvend.identity import selectors as identity_selectors
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.meters import selectors as meter_selectors
from gridvend.meters.models import Meter
from gridvend.org import selectors as org_selectors
from gridvend.readings import permissions, selectors, services
from gridvend.readings.imports import COLUMNS as FILE_COLUMNS
from gridvend.readings.imports import import_readings
from gridvend.readings.models import (
    ExceptionKind,
    MeterReading,
    ReadingBook,
    ReadingException,
    ReadingSource,
    ReadingStatus,
)
from gridvend.web.backoffice import access, exports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, show_error, unit_choices
from gridvend.web.backoffice.filtersets import (
    BookFilterSet,
    ReadingExceptionFilterSet,
    ReadingFilterSet,
)
from gridvend.web.lists import ObjectList
from gridvend.web.sessions import actor

# Readers offered for a book: the people of the user's subtree who read meters.
MAX_READER_CHOICES = 500
# A sheet shows a book's meters up to this many; a longer route is split into two books.
MAX_SHEET_METERS = 500
# Where a refused reading's error belongs on the reading form.
_READING_FIELDS = {"METER_NOT_FOUND": "meter_number"}


def _reader_choices(user: User) -> list[tuple[Any, str]]:
    people = identity_selectors.list_users(user)[:MAX_READER_CHOICES]
    return [(p.pk, f"{p.full_name} ({p.username})") for p in people if permissions.can_be_reader(p)]


def _pick_reader(user: User, pk: int | None) -> User | None:
    return identity_selectors.get_user(user, pk) if pk else None


def _find_meter(user: User, number: str) -> Meter:
    return meter_selectors.find_meter(user, number)


# Books ------------------------------------------------------------------------------------------

BOOK_COLUMNS = [
    exports.Column("code", lambda b: b.code),
    exports.Column("name", lambda b: b.name),
    exports.Column("unit_code", lambda b: b.org_unit.code),
    exports.Column("reader", lambda b: b.reader.username if b.reader else ""),
    exports.Column("cycle_day", lambda b: b.cycle_day),
]

BOOKS = ObjectList(
    name="reading-books",
    filterset=BookFilterSet,
    selector=selectors.list_books,
    columns=BOOK_COLUMNS,
    template="backoffice/book_list.html",
    keyset=("code",),
    allowed=permissions.can_view_readings,
    context=lambda user: {
        "units": unit_choices(user),
        "can_manage": permissions.can_manage_books(user),
        "can_enter": permissions.can_enter_readings(user),
        "can_import": permissions.can_import_readings(user),
        "can_review": permissions.can_review_readings(user),
    },
)
book_list = BOOKS.list_view()
book_export = BOOKS.export_view()


@login_required
def book_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_manage_books(user))
    form = bo_forms.BookForm(
        request.POST or None, units=unit_choices(user), readers=_reader_choices(user)
    )

    def save(data: dict[str, Any]) -> str:
        book = services.create_book(
            actor=user,
            org_unit=org_selectors.get_unit(user, data["org_unit"]),
            code=data["code"],
            name=data["name"],
            cycle_day=data["cycle_day"],
            reader=_pick_reader(user, data["reader"]),
        )
        return reverse("backoffice:book-detail", kwargs={"pk": book.pk})

    return form_page(
        request, form, title=_("New reading book"), save=save, saved=_("Reading book created.")
    )


@login_required
def book_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_readings(user))
    book = selectors.get_book(user, pk)
    access.require(permissions.can_manage_books(user))
    initial = {"name": book.name, "cycle_day": book.cycle_day, "reader": book.reader_id}
    form = bo_forms.BookEditForm(
        request.POST or None, initial=initial, readers=_reader_choices(user)
    )

    def save(data: dict[str, Any]) -> str:
        reader = _pick_reader(user, data["reader"])
        services.update_book(
            actor=user,
            book=book,
            name=data["name"],
            cycle_day=data["cycle_day"],
            reader=reader,
            clear_reader=reader is None,
        )
        return reverse("backoffice:book-detail", kwargs={"pk": book.pk})

    title = _("Edit reading book %(code)s") % {"code": book.code}
    return form_page(request, form, title=title, save=save, saved=_("Reading book saved."))


def _change_order(user: User, book: ReadingBook, form: Any) -> None:
    data = form.cleaned_data
    entry = next((e for e in selectors.book_entries(book) if e.meter_id == data["meter"]), None)
    if entry is None:
        form.add_error(None, _("That meter is not in this book."))
        return
    if data["action"] == "remove":
        services.remove_book_meter(actor=user, book=book, meter=entry.meter)
    else:
        offset = -1 if data["action"] == "up" else 1
        services.move_book_meter(actor=user, book=book, meter=entry.meter, offset=offset)


@login_required
def book_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A book's meters in reading order; a supervisor adds, moves and takes out meters."""
    user = actor(request)
    access.require(permissions.can_view_readings(user))
    book = selectors.get_book(user, pk)
    add_form = bo_forms.BookMeterForm(prefix="add")
    order_error = ""
    if request.method == "POST":
        access.require(permissions.can_manage_books(user))
        if "add-meter_number" in request.POST:
            add_form = bo_forms.BookMeterForm(request.POST, prefix="add")
            if add_form.is_valid():
                try:
                    meter = _find_meter(user, add_form.cleaned_data["meter_number"])
                    services.add_book_meter(actor=user, book=book, meter=meter)
                except DomainError as exc:
                    show_error(add_form, exc)
                else:
                    messages.success(request, _("Meter added to the book."))
                    return redirect("backoffice:book-detail", pk=book.pk)
        else:
            order = bo_forms.BookOrderForm(request.POST)
            if order.is_valid():
                try:
                    _change_order(user, book, order)
                except DomainError as exc:
                    show_error(order, exc)
                if not order.errors:
                    return redirect("backoffice:book-detail", pk=book.pk)
            order_error = " ".join(str(e) for errors in order.errors.values() for e in errors)
    entries = list(selectors.book_entries(book))
    return render(
        request,
        "backoffice/book_detail.html",
        {
            "book": book,
            "entries": entries,
            "add_form": add_form,
            "order_error": order_error,
            "can_manage": permissions.can_manage_books(user),
            "can_enter": permissions.can_enter_readings(user),
            "can_review": permissions.can_review_readings(user),
        },
    )


@login_required
def book_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    """The book's reading sheet: every meter in reading order, one box each, one time."""
    user = actor(request)
    access.require(permissions.can_view_readings(user))
    book = selectors.get_book(user, pk)
    access.require(permissions.can_enter_readings(user))
    entries = list(selectors.book_entries(book)[:MAX_SHEET_METERS])
    labels = [
        (e.pk, f"{e.position}. {e.meter.number} {e.meter.premise or ''}".strip()) for e in entries
    ]
    form = bo_forms.ReadingSheetForm(request.POST or None, entries=labels)
    results = None
    if request.method == "POST" and form.is_valid():
        values = [
            (e.meter, form.cleaned_data[f"m{e.pk}"])
            for e in entries
            if form.cleaned_data.get(f"m{e.pk}") is not None
        ]
        if not values:
            form.add_error(None, _("Enter at least one meter's register."))
        else:
            try:
                results = services.record_sheet(
                    actor=user, book=book, read_at=form.cleaned_data["read_at"], values=values
                )
            except DomainError as exc:
                show_error(form, exc)
    return render(
        request,
        "backoffice/book_sheet.html",
        {
            "book": book,
            "form": form,
            "results": results,
            "registers": [form[f"m{pk}"] for pk, _label in labels],
        },
    )


@login_required
def book_estimate(request: HttpRequest, pk: int) -> HttpResponse:
    """Estimate the book's meters not read in its last cycle (a supervisor, by POST)."""
    from gridvend.readings.estimates import estimate_book

    user = actor(request)
    access.require(permissions.can_view_readings(user))
    book = selectors.get_book(user, pk)
    access.require(permissions.can_review_readings(user))
    if request.method == "POST":
        try:
            run = estimate_book(actor=user, book=book)
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(
                request,
                _(
                    "Cycle %(first)s to %(last)s: %(estimated)s estimated, %(read)s read, "
                    "%(skipped)s without enough readings to estimate."
                )
                % {
                    "first": run.first_day.isoformat(),
                    "last": run.last_day.isoformat(),
                    "estimated": len(run.estimated),
                    "read": len(run.read),
                    "skipped": len(run.skipped),
                },
            )
    return redirect("backoffice:book-detail", pk=book.pk)


# Readings ---------------------------------------------------------------------------------------

READING_COLUMNS = [
    exports.Column("meter_number", lambda r: r.meter.number),
    exports.Column("read_at", lambda r: r.read_at),
    exports.Column("register_kwh", lambda r: r.register_kwh),
    exports.Column("consumption_kwh", lambda r: r.consumption_kwh),
    exports.Column("status", lambda r: r.status),
    exports.Column("exception", lambda r: r.exception_kind),
    exports.Column("source", lambda r: r.source),
    exports.Column("book_code", lambda r: r.book.code if r.book else ""),
    exports.Column("reader", lambda r: r.reader.username if r.reader else ""),
    exports.Column("roll_over", lambda r: r.is_roll_over),
]

READINGS = ObjectList(
    name="readings",
    filterset=ReadingFilterSet,
    selector=selectors.list_readings,
    columns=READING_COLUMNS,
    template="backoffice/reading_list.html",
    keyset=("-read_at", "-id"),
    allowed=permissions.can_view_readings,
    context=lambda user: {
        "units": unit_choices(user),
        "statuses": ReadingStatus.choices,
        "sources": ReadingSource.choices,
        "can_enter": permissions.can_enter_readings(user),
        "can_import": permissions.can_import_readings(user),
    },
)
reading_list = READINGS.list_view()
reading_export = READINGS.export_view()


@login_required
def reading_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_enter_readings(user))
    form = bo_forms.ReadingForm(request.POST or None)

    def save(data: dict[str, Any]) -> str:
        meter = _find_meter(user, data["meter_number"])
        reading = services.record_reading(
            actor=user,
            meter=meter,
            register_kwh=data["register_kwh"],
            read_at=data["read_at"],
            note=data["note"],
        )
        if reading.status == ReadingStatus.EXCEPTION:
            messages.warning(
                request,
                _("The reading waits for a supervisor: %(why)s.")
                % {"why": ExceptionKind(reading.exception_kind).label},
            )
        return f"{reverse('backoffice:reading-list')}?meter={meter.number}"

    return form_page(
        request,
        form,
        title=_("Enter a meter reading"),
        intro=_("The time is the utility's local time; a reading cannot be in the future."),
        save=save,
        saved=_("Reading recorded."),
        error_fields=_READING_FIELDS,
    )


@login_required
def reading_import(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_import_readings(user))
    form = bo_forms.ReadingImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        # The size is checked before the content is read (the file's reader checks it again).
        if upload.size is not None and upload.size > _max_bytes():
            form.add_error("file", _("The file is too large; split it into smaller files."))
        else:
            try:
                done = import_readings(actor=user, filename=upload.name, content=upload.read())
            except DomainError as exc:
                show_error(form, exc)
            else:
                messages.success(request, _("The file was imported; each row's result is below."))
                return redirect("backoffice:reading-import-detail", pk=done.pk)
    return render(
        request,
        "backoffice/reading_import.html",
        {
            "form": form,
            "columns": [name for name, _required in FILE_COLUMNS],
            "imports": list(selectors.list_imports(user)[:20]),
        },
    )


def _max_bytes() -> int:
    from django.conf import settings

    return int(settings.IMPORT_MAX_BYTES)


@login_required
def reading_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_readings(user))
    upload = selectors.get_import(user, pk)
    return render(request, "backoffice/reading_import_detail.html", {"upload": upload})


# Exceptions -------------------------------------------------------------------------------------

EXCEPTION_COLUMNS = [
    exports.Column("meter_number", lambda e: e.reading.meter.number),
    exports.Column("read_at", lambda e: e.reading.read_at),
    exports.Column("register_kwh", lambda e: e.reading.register_kwh),
    exports.Column("exception", lambda e: e.exception_kind),
    exports.Column("requested_by", lambda e: e.requested_by.username),
    exports.Column("requested_at", lambda e: e.requested_at),
]

EXCEPTIONS = ObjectList(
    name="reading-exceptions",
    filterset=ReadingExceptionFilterSet,
    selector=selectors.list_open_exceptions,
    columns=EXCEPTION_COLUMNS,
    template="backoffice/reading_exceptions.html",
    keyset=("requested_at", "id"),
    allowed=permissions.can_review_readings,
    context=lambda user: {"units": unit_choices(user), "kinds": ExceptionKind.choices},
)
exception_list = EXCEPTIONS.list_view()


@login_required
def exception_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """One exception: the reading, the meter's recent readings, and the decision."""
    user = actor(request)
    access.require(permissions.can_review_readings(user))
    exception: ReadingException = selectors.get_exception(user, pk)
    form = bo_forms.ExceptionDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            standing: MeterReading = services.decide_exception(
                actor=user,
                exception=exception,
                action=form.cleaned_data["action"],
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            show_error(form, exc, {"REASON_REQUIRED": "note"})
        else:
            messages.success(
                request,
                _("Decided: the reading now stands as %(status)s.")
                % {"status": ReadingStatus(standing.status).label},
            )
            return redirect("backoffice:reading-exceptions")
    reading = exception.reading
    return render(
        request,
        "backoffice/reading_exception.html",
        {
            "exception": exception,
            "reading": reading,
            "history": selectors.meter_readings(reading.meter),
            "form": form,
        },
    )
