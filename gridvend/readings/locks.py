"""Row locks for reading-book writes. A book is locked before its meters' order changes, so two
supervisors editing one book take turns; readings lock their meter (``meters.locks``)."""

from __future__ import annotations

from gridvend.readings.models import ReadingBook


def lock_book(book: ReadingBook) -> ReadingBook:
    """The book's row, fresh, with its unit and reader read along (not locked)."""
    return (
        ReadingBook.objects.select_for_update(of=("self",))
        .select_related("org_unit", "reader")
        .get(pk=book.pk)
    )
