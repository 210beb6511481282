"""Refusals of the readings app (books, readings, reading files, exceptions) with stable codes.

A reading that fails a check (lower than the last, zero, a spike, out of sequence) is not
refused: it is recorded as an exception for a supervisor (``ExceptionKind``). These are the
refusals: nothing is written.
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class ReadingErrorCode(StrEnum):
    BOOK_CODE_TAKEN = "BOOK_CODE_TAKEN"
    BOOK_CODE_INVALID = "BOOK_CODE_INVALID"
    BOOK_UNIT_INVALID = "BOOK_UNIT_INVALID"
    BOOK_READER_INVALID = "BOOK_READER_INVALID"
    BOOK_CYCLE_DAY_INVALID = "BOOK_CYCLE_DAY_INVALID"
    BOOK_METER_OTHER_UNIT = "BOOK_METER_OTHER_UNIT"
    BOOK_METER_IN_A_BOOK = "BOOK_METER_IN_A_BOOK"
    BOOK_METER_NOT_IN_BOOK = "BOOK_METER_NOT_IN_BOOK"
    READING_METER_UNKNOWN = "READING_METER_UNKNOWN"
    READING_METER_RETIRED = "READING_METER_RETIRED"
    READING_IN_FUTURE = "READING_IN_FUTURE"
    READING_TIME_INVALID = "READING_TIME_INVALID"
    READING_VALUE_INVALID = "READING_VALUE_INVALID"
    READING_ABOVE_REGISTER = "READING_ABOVE_REGISTER"
    READING_DUPLICATE = "READING_DUPLICATE"
    READING_READER_UNKNOWN = "READING_READER_UNKNOWN"
    READING_BOOK_UNKNOWN = "READING_BOOK_UNKNOWN"
    READING_FILE_INVALID = "READING_FILE_INVALID"
    READING_FILE_DUPLICATE = "READING_FILE_DUPLICATE"
    READING_NO_HISTORY = "READING_NO_HISTORY"
    READING_ROW_UNREADABLE = "READING_ROW_UNREADABLE"
    READING_REFERENCE_REUSED = "READING_REFERENCE_REUSED"


class ReadingRefused(DomainError):
    """A refusal about one field of a form or a file's row: ``field`` names it."""

    extra_params = ("field",)


class BookCodeTaken(ReadingRefused):
    code = ReadingErrorCode.BOOK_CODE_TAKEN
    message_template = gettext_lazy("Reading book %(book)s already exists.")

    def __init__(self, *, book: str) -> None:
        super().__init__(book=book, field="code")


class BookCodeInvalid(ReadingRefused):
    code = ReadingErrorCode.BOOK_CODE_INVALID
    message_template = gettext_lazy(
        "A book code is up to 40 lower-case letters, digits, dashes or underscores."
    )

    def __init__(self) -> None:
        super().__init__(field="code")


class BookUnitInvalid(ReadingRefused):
    code = ReadingErrorCode.BOOK_UNIT_INVALID
    message_template = gettext_lazy(
        "A reading book belongs to a service centre: %(unit)s has units below it."
    )

    def __init__(self, *, unit: str) -> None:
        super().__init__(unit=unit, field="org_unit")


class BookReaderInvalid(ReadingRefused):
    code = ReadingErrorCode.BOOK_READER_INVALID
    message_template = gettext_lazy(
        "%(reader)s cannot read this book: a reader is an active user of the book's area who "
        "reads meters."
    )

    def __init__(self, *, reader: str) -> None:
        super().__init__(reader=reader, field="reader")


class BookCycleDayInvalid(ReadingRefused):
    code = ReadingErrorCode.BOOK_CYCLE_DAY_INVALID
    message_template = gettext_lazy("The cycle day is a day of the month from 1 to %(maximum)s.")

    def __init__(self, *, maximum: int) -> None:
        super().__init__(maximum=maximum, field="cycle_day")


class BookMeterOtherUnit(ReadingRefused):
    code = ReadingErrorCode.BOOK_METER_OTHER_UNIT
    message_template = gettext_lazy("Meter %(meter_number)s is not in this book's service centre.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number, field="meter_number")


class BookMeterInABook(ReadingRefused):
    code = ReadingErrorCode.BOOK_METER_IN_A_BOOK
    message_template = gettext_lazy("Meter %(meter_number)s is already in book %(book)s.")

    def __init__(self, *, meter_number: str, book: str) -> None:
        super().__init__(meter_number=meter_number, book=book, field="meter_number")


class BookMeterNotInBook(ReadingRefused):
    code = ReadingErrorCode.BOOK_METER_NOT_IN_BOOK
    message_template = gettext_lazy("Meter %(meter_number)s is not in book %(book)s.")

    def __init__(self, *, meter_number: str, book: str) -> None:
        super().__init__(meter_number=meter_number, book=book)


class ReadingMeterUnknown(ReadingRefused):
    code = ReadingErrorCode.READING_METER_UNKNOWN
    message_template = gettext_lazy("There is no meter %(meter_number)s in your area.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number, field="meter_number")


class ReadingMeterRetired(ReadingRefused):
    code = ReadingErrorCode.READING_METER_RETIRED
    message_template = gettext_lazy("Meter %(meter_number)s is retired: it takes no readings.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number, field="meter_number")


class ReadingInFuture(ReadingRefused):
    code = ReadingErrorCode.READING_IN_FUTURE
    message_template = gettext_lazy("A reading cannot be taken in the future.")

    def __init__(self) -> None:
        super().__init__(field="read_at")


class ReadingTimeInvalid(ReadingRefused):
    code = ReadingErrorCode.READING_TIME_INVALID
    message_template = gettext_lazy(
        "Write the time of the reading as 2026-06-30 14:05 (the utility's time) or in ISO 8601 "
        "with its offset."
    )

    def __init__(self) -> None:
        super().__init__(field="read_at")


class ReadingValueInvalid(ReadingRefused):
    code = ReadingErrorCode.READING_VALUE_INVALID
    message_template = gettext_lazy(
        "A register reading is a number of kWh of zero or more, with at most two decimals."
    )

    def __init__(self) -> None:
        super().__init__(field="register_kwh")


class ReadingAboveRegister(ReadingRefused):
    code = ReadingErrorCode.READING_ABOVE_REGISTER
    message_template = gettext_lazy(
        "Meter %(meter_number)s has a register of %(digits)s digits: it cannot show %(value)s."
    )

    def __init__(self, *, meter_number: str, digits: int, value: str) -> None:
        super().__init__(
            meter_number=meter_number, digits=digits, value=value, field="register_kwh"
        )


class ReadingDuplicate(ReadingRefused):
    code = ReadingErrorCode.READING_DUPLICATE
    message_template = gettext_lazy("Meter %(meter_number)s already has a reading at %(read_at)s.")

    def __init__(self, *, meter_number: str, read_at: str) -> None:
        super().__init__(meter_number=meter_number, read_at=read_at, field="read_at")


class ReadingReaderUnknown(ReadingRefused):
    code = ReadingErrorCode.READING_READER_UNKNOWN
    message_template = gettext_lazy("There is no user %(reader)s in your area.")

    def __init__(self, *, reader: str) -> None:
        super().__init__(reader=reader, field="reader")


class ReadingBookUnknown(ReadingRefused):
    code = ReadingErrorCode.READING_BOOK_UNKNOWN
    message_template = gettext_lazy("There is no reading book %(book)s in your area.")

    def __init__(self, *, book: str) -> None:
        super().__init__(book=book, field="book_code")


class ReadingFileInvalid(ReadingRefused):
    code = ReadingErrorCode.READING_FILE_INVALID
    message_template = gettext_lazy("The meter-data file cannot be imported: %(problem)s")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem, field="file")


class ReadingFileDuplicate(ReadingRefused):
    code = ReadingErrorCode.READING_FILE_DUPLICATE
    message_template = gettext_lazy(
        "This file was already imported (reading file %(import_id)s); nothing was imported again."
    )

    def __init__(self, *, import_id: int) -> None:
        super().__init__(import_id=import_id, field="file")


class ReadingNoHistory(ReadingRefused):
    code = ReadingErrorCode.READING_NO_HISTORY
    message_template = gettext_lazy(
        "Meter %(meter_number)s has too few readings to estimate from: order a re-read."
    )

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class ReadingRowUnreadable(ReadingRefused):
    """A row of a meter-data file that could not be split into cells (the file's reader says
    why); its code is the row's result, the file's other rows are imported."""

    code = ReadingErrorCode.READING_ROW_UNREADABLE
    message_template = gettext_lazy("This row of the file cannot be read.")

    def __init__(self) -> None:
        super().__init__()


class ReadingReferenceReused(ReadingRefused):
    """An upload's reference sent again with another meter, value or time."""

    code = ReadingErrorCode.READING_REFERENCE_REUSED
    message_template = gettext_lazy(
        "The reference %(reference)s was used for another reading: use a new one."
    )

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference[:64], field="reference")
