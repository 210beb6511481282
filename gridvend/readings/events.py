"""The audit event types that reading-book, reading and reading-exception services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class ReadingEvent(StrEnum):
    BOOK_CREATED = "reading_book.created"
    BOOK_UPDATED = "reading_book.updated"
    BOOK_METER_ADDED = "reading_book.meter_added"
    BOOK_METER_REMOVED = "reading_book.meter_removed"
    BOOK_METER_MOVED = "reading_book.meter_moved"
    RECORDED = "reading.recorded"
    ESTIMATED = "reading.estimated"
    IMPORTED = "reading_import.completed"
    # A reading exception is a two-person decision (approvals): raised by whoever recorded the
    # reading, decided by a reading supervisor (accepted, re-read ordered or estimated).
    EXCEPTION_RAISED = "reading_exception.raised"
    EXCEPTION_DECIDED = "reading_exception.decided"
    EXCEPTION_DISMISSED = "reading_exception.dismissed"
