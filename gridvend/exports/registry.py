"""The exportable sources: each list (and later each report) registers how to read its rows as a
given user with given filters, and how to turn a row into cells. A job finds its source here by
name, so an export stores only that name and the filters, never code or a query."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from gridvend.exports.errors import ExportSourceUnknown
from gridvend.identity.models import User


@dataclass(frozen=True)
class ExportSource:
    """``rows(user, filters)`` validates the filters and returns the user's scoped rows (it raises
    the channel-neutral NotFound / AccessDenied / InvalidInput errors); ``cells(row)`` gives the
    row's values in ``header`` order, ready for a spreadsheet."""

    name: str
    header: tuple[str, ...]
    rows: Callable[[User, Mapping[str, str]], QuerySet[Any]]
    cells: Callable[[Any], list[Any]]
    allowed: Callable[[User], bool]


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
