"""The exportable sources: each list and each detail report registers how to read its rows as a
given user with given filters, and how to turn a row into cells. A job finds its source here by
name, so an export stores only that name and the filters, never code or a query.

A list's file is one table (``rows`` and ``cells``). A report's is a document
(``document``): lines printed above its tables (the title, filters, user and time), then its
tables one after another, each a section read lazily, batch by batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from gridvend.exports.errors import ExportSourceUnknown
from gridvend.identity.models import User


@dataclass
class ExportSection:
    """One table of a document: its title, its heading row and its rows as cell lists (typed
    values ready for a sheet: numbers, naive local times, text guarded against formulas), read
    only as the file is written."""

    title: str
    header: list[str]
    rows: Iterable[list[Any]]


@dataclass
class ExportDocument:
    """A file of several tables: ``preamble`` lines first (label, value), then each section;
    ``right_to_left`` sheets in a right-to-left language; ``expected`` rows, for progress."""

    title: str
    preamble: list[list[str]]
    sections: list[ExportSection]
    expected: int
    right_to_left: bool = False


@dataclass(frozen=True)
class ExportSource:
    """``rows(user, filters)`` validates the filters and returns the user's scoped rows (it raises
    the channel-neutral NotFound / AccessDenied / InvalidInput errors); ``cells(row)`` gives the
    row's values in ``header`` order, ready for a spreadsheet. A source with a ``document``
    (``document(user, filters)``, called with the export's language active) is written as that
    document instead; ``rows`` then still says whether the owner may read it."""

    name: str
    header: tuple[str, ...]
    rows: Callable[[User, Mapping[str, str]], QuerySet[Any]]
    cells: Callable[[Any], list[Any]]
    allowed: Callable[[User], bool]
    document: Callable[[User, Mapping[str, str]], ExportDocument] | None = field(
        default=None, compare=False
    )


_SOURCES: dict[str, ExportSource] = {}


def register(source: ExportSource) -> ExportSource:
    other = _SOURCES.get(source.name)
    if other is not None and other != source:
        raise ValueError(f"export source {source.name!r} is registered twice")
    _SOURCES[source.name] = source
    return source


def get_source(name: str) -> ExportSource:
    try:
        return _SOURCES[name]
    except KeyError:
        raise ExportSourceUnknown(source=name[:64]) from None


def source_names() -> list[str]:
    return sorted(_SOURCES)
