"""Importing a meter-data file (CSV, ``docs/postpaid.md``): one row per reading, every row checked
as a screen entry is, and a result for each row (accepted, exception or refused with its code).

The file is measured and its rows capped before any is parsed (``batches.files``); a file whose
header, size or encoding is wrong, or whose digest was imported before, is refused whole and
nothing is written. Otherwise the file is one transaction: each row runs in its own savepoint, so
a refused row writes nothing and the others stand, and the file's record keeps every row's result.
"""

from __future__ import annotations

import datetime
import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.batches.files import BatchFileError, read_rows
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import scoped
from gridvend.kernel import inputs
from gridvend.kernel.errors import DomainError
from gridvend.meters import selectors as meter_selectors
from gridvend.meters.models import Meter
from gridvend.readings import permissions, selectors
from gridvend.readings.errors import (
    ReadingBookUnknown,
    ReadingFileDuplicate,
    ReadingFileInvalid,
    ReadingMeterUnknown,
    ReadingReaderUnknown,
    ReadingRowUnreadable,
)
from gridvend.readings.events import ReadingEvent
from gridvend.readings.models import MeterReading, ReadingBook, ReadingImport, ReadingSource
from gridvend.readings.services import (
    ACCEPTED,
    EXCEPTION,
    REFUSED,
    RowResult,
    parse_read_at,
    parse_register,
    record_actual,
    run_row,
)

# (column, required), in the order of the documented layout.
COLUMNS = [
    ("meter_number", True),
    ("read_at", True),
    ("register_kwh", True),
    ("reader", False),
    ("book_code", False),
    ("note", False),
]
MAX_ROWS = 5000
UNREADABLE = ReadingRowUnreadable.code


def _meter(actor: User, number: str) -> Meter:
    try:
        return meter_selectors.find_meter(actor, number)
    except DomainError:
        raise ReadingMeterUnknown(meter_number=number[:20]) from None


def _reader(actor: User, username: str) -> User | None:
    if not username:
        return None
    found = scoped(User.objects.select_related("org_unit"), actor).filter(username=username).first()
    if found is None:
        raise ReadingReaderUnknown(reader=username)
    return found


def _book(actor: User, code: str, cache: dict[str, ReadingBook]) -> ReadingBook | None:
    if not code:
        return None
    if code not in cache:
        found = selectors.get_book_by_code(actor, code)
        if found is None:
            raise ReadingBookUnknown(book=code)
        cache[code] = found
    return cache[code]


def import_readings(
    *, actor: User, filename: str, content: bytes, now: datetime.datetime | None = None
) -> ReadingImport:
    """Import a meter-data file; the returned record holds each row's result."""
    if not permissions.can_import_readings(actor):
        raise AccessDenied()
    moment = now or timezone.now()
    name = inputs.clean_text(filename, max_length=255, field="file") or "readings.csv"
    if not name.lower().endswith(".csv"):
        raise ReadingFileInvalid(problem=_("upload a .csv file."))
    try:
        rows = read_rows(name, content, columns=COLUMNS, max_rows=MAX_ROWS)
    except BatchFileError as exc:
        raise ReadingFileInvalid(problem=str(exc)) from None
    digest = hashlib.sha256(content).hexdigest()
    earlier = ReadingImport.objects.filter(digest=digest).first()
    if earlier is not None:
        raise ReadingFileDuplicate(import_id=earlier.pk)
    unreadable: dict[int, str] = {}
    for problem in rows.problems:
        unreadable.setdefault(problem.row, problem.message)
    books: dict[str, ReadingBook] = {}
    try:
        with transaction.atomic(durable=True):
            upload = ReadingImport.objects.create(
                digest=digest,
                filename=name,
                org_unit=actor.org_unit,
                imported_by=actor,
                created_at=moment,
            )
            results: list[RowResult] = []
            for number, cells in rows:
                label = cells.get("meter_number", "")[:20]
                if number in unreadable:
                    results.append(
                        RowResult(number, label, REFUSED, UNREADABLE, unreadable[number])
                    )
                    continue

                def step(cells: dict[str, str] = cells) -> MeterReading:
                    meter = _meter(actor, cells.get("meter_number", ""))
                    read_at = parse_read_at(cells.get("read_at", ""))
                    value = parse_register(cells.get("register_kwh", ""))
                    reader = _reader(
                        actor, inputs.clean_text(cells.get("reader", ""), max_length=150)
                    )
                    book = _book(
                        actor, inputs.clean_text(cells.get("book_code", ""), max_length=40), books
                    )
                    return record_actual(
                        actor=actor,
                        meter=meter,
                        register_kwh=value,
                        read_at=read_at,
                        source=ReadingSource.IMPORT,
                        now=moment,
                        reader=reader,
                        book=book,
                        note=cells.get("note", ""),
                        reading_import=upload,
                    )

                results.append(run_row(number, label, step))
            for number in sorted(set(unreadable) - {n for n, _cells in rows}):
                results.append(RowResult(number, "", REFUSED, UNREADABLE, unreadable[number]))
            results.sort(key=lambda r: r.row)
            counts = {
                kind: sum(1 for r in results if r.result == kind)
                for kind in (ACCEPTED, EXCEPTION, REFUSED)
            }
            ReadingImport.objects.filter(pk=upload.pk).update(
                row_count=len(results),
                accepted_count=counts[ACCEPTED],
                exception_count=counts[EXCEPTION],
                refused_count=counts[REFUSED],
                results=[r.as_dict() for r in results],
            )
            upload.refresh_from_db()
            record(
                actor=actor,
                event_type=ReadingEvent.IMPORTED,
                target=upload,
                after={
                    "filename": name,
                    "digest": digest,
                    "rows": len(results),
                    "accepted": counts[ACCEPTED],
                    "exceptions": counts[EXCEPTION],
                    "refused": counts[REFUSED],
                },
            )
    except IntegrityError:
        # The same file sent twice at once: the unique digest decides, the loser writes nothing.
        earlier = ReadingImport.objects.filter(digest=digest).first()
        if earlier is None:
            raise
        raise ReadingFileDuplicate(import_id=earlier.pk) from None
    return upload
