"""Keyset paging of an ordered queryset, shared by the back-office lists (``gridvend.web.lists``)
and the detail reports (``gridvend.reports.paging``), which may not import the web layer.

A page is addressed by a signed cursor holding the ordering key of the row it starts after (or
ends before), so every page, the last one too, is one index range scan of ``size + 1`` rows and
nothing counts the rows to draw a pager. A cursor that does not verify or does not fit the
ordering is an ``InvalidInput`` (``invalid_filter`` on the ``cursor`` field: a 400 with a
sentence), never a 500.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core import signing
from django.db.models import Field, Model, Q, QuerySet
from django.utils.translation import gettext as _

from gridvend.kernel.inputs import InvalidInput

PAGE_SIZE = 50
# A cursor is a few keys signed; anything longer was not written by us.
MAX_CURSOR_LENGTH = 1000
CURSOR = "cursor"


def invalid_cursor(field: str = CURSOR) -> InvalidInput:
    return InvalidInput(
        reason="invalid_filter",
        field=field,
        problem=_("This page link is not valid. Start again from the first page."),
    )


@dataclass(frozen=True)
class RowCount:
    """What a list says about how many rows it has: exact, at least a cap, or about."""

    value: int
    kind: str  # "exact", "at_least" or "about"


@dataclass
class KeysetPage:
    """One page of a keyset-paged list, in the list's order, and the cursors around it."""

    object_list: list[Any]
    previous_cursor: str | None
    next_cursor: str | None
    last_cursor: str
    is_first: bool
    is_last: bool
    count: RowCount | None = None
    is_keyset: bool = True

    def __iter__(self) -> Iterator[Any]:
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_other_pages(self) -> bool:
        return not (self.is_first and self.is_last)


class Keyset:
    """Keyset paging of one list's queryset by a total ordering (``-`` for descending; a key
    may reach a related row, ``sale__created_at``).

    The ordering is made total by ``id`` unless its last field is already unique. A cursor is
    ``{"d": direction, "k": key values}`` signed with the list's name as salt: ``a`` starts after
    the key, ``b`` ends before it, ``l`` is the last page (the reversed ordering's first page,
    shown in the list's order). ``field`` names the query-string parameter in refusals.
    """

    def __init__(
        self, name: str, ordering: Sequence[str], size: int = PAGE_SIZE, *, field: str = CURSOR
    ) -> None:
        self.salt = f"gridvend.lists.{name}"
        self.ordering = tuple(ordering)
        self.size = size
        self.field = field

    def _keys(self, model: type[Model]) -> list[tuple[str, bool]]:
        keys = [(name.lstrip("-"), name.startswith("-")) for name in self.ordering]
        last_name, last_desc = keys[-1]
        last = _field(model, last_name)
        if not (last.primary_key or last.unique) or "__" in last_name:
            keys.append(("id", last_desc))
        return keys

    # Cursors -------------------------------------------------------------------------------------

    def _encode(self, direction: str, obj: Model | None, keys: list[tuple[str, bool]]) -> str:
        values = [] if obj is None else [_dump(_value(obj, name)) for name, _desc in keys]
        return signing.dumps({"d": direction, "k": values}, salt=self.salt, compress=True)

    def _decode(self, raw: str, model: type[Model], keys: list[tuple[str, bool]]) -> Any:
        if len(raw) > MAX_CURSOR_LENGTH:
            raise invalid_cursor(self.field)
        try:
            payload = signing.loads(raw, salt=self.salt)
        except signing.BadSignature as exc:
            raise invalid_cursor(self.field) from exc
        if not isinstance(payload, dict) or payload.get("d") not in ("a", "b", "l"):
            raise invalid_cursor(self.field)
        values = payload.get("k")
        if payload["d"] == "l":
            return "l", []
        if not isinstance(values, list) or len(values) != len(keys):
            raise invalid_cursor(self.field)
        try:
            parsed = [
                _field(model, name).to_python(value)
                for (name, _desc), value in zip(keys, values, strict=True)
            ]
        except Exception as exc:  # a signed key that no longer parses (a changed field type)
            raise invalid_cursor(self.field) from exc
        if any(value is None for value in parsed):
            raise invalid_cursor(self.field)
        return payload["d"], parsed

    # Pages ---------------------------------------------------------------------------------------

    def order(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """``queryset`` in the keyset's total order (what a file of every row is written in)."""
        keys = self._keys(queryset.model)
        return queryset.order_by(*(f"-{n}" if desc else n for n, desc in keys))

    def page(self, queryset: QuerySet[Any], cursor: str | None) -> KeysetPage:
        model = queryset.model
        keys = self._keys(model)
        direction, values = ("", []) if not cursor else self._decode(cursor, model, keys)
        forward = [f"-{n}" if desc else n for n, desc in keys]
        backward = [n if desc else f"-{n}" for n, desc in keys]
        if direction in ("a", "b"):
            queryset = queryset.filter(_beyond(keys, values, after=direction == "a"))
        reverse = direction in ("b", "l")
        rows = list(queryset.order_by(*(backward if reverse else forward))[: self.size + 1])
        more, rows = len(rows) > self.size, rows[: self.size]
        if reverse:
            rows.reverse()
        # Past the key there may be more rows; before it there is at least the key's own row.
        first = (not more) if reverse else direction != "a"
        last = direction == "l" or (direction != "b" and not more)
        return KeysetPage(
            object_list=rows,
            previous_cursor=None if first or not rows else self._encode("b", rows[0], keys),
            next_cursor=None if last or not rows else self._encode("a", rows[-1], keys),
            last_cursor=self._encode("l", None, keys),
            is_first=first,
            is_last=last,
        )

    def cursor_at(self, obj: Model) -> str:
        """The cursor of the page that starts just after ``obj`` (for links and tests)."""
        return self._encode("a", obj, self._keys(type(obj)))


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    """The column ``name`` names, following ``__`` through foreign keys."""
    *path, last = ("id" if name == "pk" else name).split("__")
    for step in path:
        relation = model._meta.get_field(step)
        assert relation.related_model is not None, f"{step} is not a relation of {model.__name__}"
        model = relation.related_model
    found = model._meta.get_field(last)
    assert isinstance(found, Field), f"{name} is not a column of {model.__name__}"
    return found


def _value(obj: Model, name: str) -> Any:
    value: Any = obj
    for step in name.split("__"):
        value = getattr(value, step)
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _beyond(keys: list[tuple[str, bool]], values: list[Any], *, after: bool) -> Q:
    """Rows past the key in the list's order (``after``) or before it.

    ``(k1, k2) > (v1, v2)`` written as ``k1 >= v1 AND (k1 > v1 OR (k1 = v1 AND k2 > v2))``: the
    leading bound lets the database start an index range scan at the key on both backends.
    """

    def op(desc: bool, strict: bool) -> str:
        ascending = after != desc
        return ("gt" if strict else "gte") if ascending else ("lt" if strict else "lte")

    either = Q()
    for i, (name, desc) in enumerate(keys):
        term = Q(**{f"{name}__{op(desc, True)}": values[i]})
        for earlier, value in zip(keys[:i], values[:i], strict=True):
            term &= Q(**{earlier[0]: value})
        either |= term
    first_name, first_desc = keys[0]
    return Q(**{f"{first_name}__{op(first_desc, False)}": values[0]}) & either
