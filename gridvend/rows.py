"""Model instances from rows that hand-written SQL read, for the few statements on the vend path
that the ORM cannot say in one round trip or compiles too slowly to run on every sale.

The values go through the same converters the ORM applies (the backend's, then the field's), so
an instance built here is the instance a queryset would have built: dates are dates on SQLite,
JSON is decoded, booleans are booleans.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, Any], Any]


def columns(model: type[Model], alias: str) -> str:
    """Every concrete column of ``model`` under the table alias, in the order of its fields."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> tuple[tuple[Any, tuple[Converter, ...]], ...]:
    found = []
    for field in model._meta.concrete_fields:
        expression = field.get_col(model._meta.db_table)
        chain = tuple(connection.ops.get_db_converters(expression)) + tuple(
            field.get_db_converters(connection)
        )
        found.append((expression, chain))
    return tuple(found)


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def instance(model: type[M], values: Sequence[Any]) -> M:
    """An instance of ``model`` from the values of :func:`columns`, as the ORM would build it."""
    converted = []
    for value, (expression, chain) in zip(
        values, _converters(model, connection.vendor), strict=True
    ):
        for convert in chain:
            value = convert(value, expression, connection)
        converted.append(value)
    return model.from_db(connection.alias, list(_attnames(model)), converted)


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)
