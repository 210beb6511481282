"""A list screen and its CSV/XLSX export declared once, from one filter set and one selector.

NetBox's ``ObjectListView`` idea in a few lines: a list screen and its export must show the same
rows for the same query string, so both are built from one :class:`ObjectList` — the typed filter
set, the scoped selector, who may read it, the page's template and the export's columns. A new
list (and later its API endpoint) declares what differs and nothing else.

Lists over large tables (customers, meters, debts, the operation log) are paged by keyset: a page
is addressed by a signed cursor holding the ordering key of the row it starts after (or before),
so every page — the last one too — is one index range scan of ``PAGE_SIZE + 1`` rows, and nothing
counts a million rows to draw a pager. Small tables keep page numbers.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Field, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from gridvend.customers.search import read_search
from gridvend.exports import registry as export_registry
from gridvend.exports import services as export_services
from gridvend.exports.errors import ExportLimitReached
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.web.backoffice import exports
from gridvend.web.errors import describe
from gridvend.web.filters import InvalidFilter, SelectorFilterSet
from gridvend.web.search import too_short_message
from gridvend.web.sessions import actor

PAGE_SIZE = 50
EXPORT_CHUNK = 1000
# A filtered list counts at most this many rows and shows "1,000+" past it: a person needs to
# know whether a search found a handful or "a lot", not whether it found 734,212.
COUNT_CAP = 1000
# A cursor is a few keys signed; anything longer was not written by us.
MAX_CURSOR_LENGTH = 1000
CURSOR = "cursor"

View = Callable[..., HttpResponse]


def _anyone(user: User) -> bool:
    # Lists whose selector already narrows the rows to what the user may see (their own subtree).
    return user.is_active


def page_of(request: HttpRequest, items: Any, size: int = PAGE_SIZE) -> Page[Any]:
    return Paginator(items, size).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query.pop(CURSOR, None)
    return query.urlencode()


# Keyset pages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowCount:
    """What a list says about how many rows it has: exact, at least ``COUNT_CAP``, or about."""

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
    """Keyset paging of one list's queryset by a total ordering (``-`` for descending).

    The ordering is made total by ``id`` unless its last field is already unique. A cursor is
    ``{"d": direction, "k": key values}`` signed with the list's name as salt: ``a`` starts after
    the key, ``b`` ends before it, ``l`` is the last page (the reversed ordering's first page,
    shown in the list's order). A cursor that does not verify or does not fit the ordering is an
    :class:`InvalidFilter` (400 with a sentence), never a 500.
    """

    def __init__(self, name: str, ordering: Sequence[str], size: int | None = None) -> None:
        self.salt = f"gridvend.lists.{name}"
        self.ordering = tuple(ordering)
        self.size = size or PAGE_SIZE

    def _keys(self, model: type[Model]) -> list[tuple[str, bool]]:
        keys = [(name.lstrip("-"), name.startswith("-")) for name in self.ordering]
        last_name, last_desc = keys[-1]
        last = _field(model, last_name)
        if not (last.primary_key or last.unique):
            keys.append(("id", last_desc))
        return keys

    # Cursors -------------------------------------------------------------------------------------

    def _encode(self, direction: str, obj: Model | None, keys: list[tuple[str, bool]]) -> str:
        values = [] if obj is None else [_dump(getattr(obj, name)) for name, _desc in keys]
        return signing.dumps({"d": direction, "k": values}, salt=self.salt, compress=True)

    def _decode(self, raw: str, model: type[Model], keys: list[tuple[str, bool]]) -> Any:
        def invalid() -> InvalidFilter:
            return InvalidFilter(
                field=CURSOR,
                problem=_("This page link is not valid. Start again from the first page."),
            )

        if len(raw) > MAX_CURSOR_LENGTH:
            raise invalid()
        try:
            payload = signing.loads(raw, salt=self.salt)
        except signing.BadSignature as exc:
            raise invalid() from exc
        if not isinstance(payload, dict) or payload.get("d") not in ("a", "b", "l"):
            raise invalid()
        values = payload.get("k")
        if payload["d"] == "l":
            return "l", []
        if not isinstance(values, list) or len(values) != len(keys):
            raise invalid()
        try:
            parsed = [
                _field(model, name).to_python(value)
                for (name, _desc), value in zip(keys, values, strict=True)
            ]
        except Exception as exc:  # a signed key that no longer parses (a changed field type)
            raise invalid() from exc
        if any(value is None for value in parsed):
            raise invalid()
        return payload["d"], parsed

    # Pages ---------------------------------------------------------------------------------------

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
    found = model._meta.get_field("id" if name == "pk" else name)
    assert isinstance(found, Field), f"{name} is not a column of {model.__name__}"
    return found


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


def row_count(queryset: QuerySet[Any], *, user: User, filtered: bool) -> RowCount:
    """How many rows, without counting a large table: the planner's estimate for an unfiltered
    list that is the whole table (an administrator at the root, on PostgreSQL), else an exact
    count stopped at ``COUNT_CAP``."""
    if not filtered and user.org_unit.parent_id is None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                [queryset.model._meta.db_table],
            )
            found = cursor.fetchone()
        # -1: never analysed or vacuumed; the capped count below is then the honest answer.
        if found is not None and found[0] is not None and found[0] >= 0:
            return RowCount(int(found[0]), "about")
    # Unordered, so the scan streams and stops at the cap: a filter that most rows pass is
    # counted by reading about COUNT_CAP of them, one that few pass costs what finding its page
    # already costs (the planner may read the table for it, bounded by the LIMIT).
    counted = queryset.order_by()[: COUNT_CAP + 1].count()
    if counted > COUNT_CAP:
        return RowCount(COUNT_CAP, "at_least")
    return RowCount(counted, "exact")


# Lists -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectList:
    """One list: its rows, who reads them, how the page shows them and how the file carries them.

    ``context`` adds what only this page needs (choices for its filters, what the user may do);
    ``rows`` turns the page's objects into what the template iterates when it needs more than the
    objects themselves. The export obeys the same filters and the same scope as the page.
    ``keyset`` (the list's ordering) pages a large table by cursor instead of page number.
    """

    name: str
    filterset: type[SelectorFilterSet]
    selector: Callable[..., QuerySet[Any]]
    columns: list[exports.Column]
    template: str = ""
    allowed: Callable[[User], bool] = _anyone
    export_allowed: Callable[[User], bool] | None = None
    context: Callable[[User], dict[str, Any]] = field(default=lambda user: {})
    rows: Callable[[User, Any], Any] | None = None
    keyset: tuple[str, ...] = ()
    # For a list whose ``q`` is a customer search (gridvend.customers.search): a search shows
    # at most this many rows and says when more match, so a common name is not counted through.
    search_limit: int | None = None
    # Whether the list is an export source (a variant of a registered list, made in a test with
    # dataclasses.replace, is not a second source of the same name).
    export_source: bool = True

    def __post_init__(self) -> None:
        # Every list is an export source: a large export is written by a job from these.
        if not self.export_source:
            return
        export_registry.register(
            export_registry.ExportSource(
                name=self.name,
                header=tuple(c.key for c in self.columns),
                rows=self.export_rows,
                cells=lambda item: [exports.cell(c.value(item)) for c in self.columns],
                allowed=self.export_allowed or self.allowed,
            )
        )

    def export_rows(self, user: User, filters: Mapping[str, str]) -> QuerySet[Any]:
        """The export's rows for stored query-string ``filters``, read as ``user`` now."""
        self._require(self.export_allowed or self.allowed, user)
        return self.filterset(dict(filters), actor=user, selector=self.selector).qs

    def queryset(self, request: HttpRequest, user: User) -> tuple[QuerySet[Any], dict[str, str]]:
        found = self.filterset(request.GET, actor=user, selector=self.selector)
        return found.qs, found.echo()

    def _require(self, predicate: Callable[[User], bool], user: User) -> None:
        if not predicate(user):
            raise AccessDenied()

    def _search_context(self, queryset: QuerySet[Any], filters: dict[str, str]) -> dict[str, Any]:
        text = filters.get("q", "")
        if self.search_limit is None or not text:
            return {}
        if read_search(text).too_short:
            return {"search_note": too_short_message()}
        limit = self.search_limit
        return {"more_match": queryset[limit : limit + 1].exists(), "search_limit": limit}

    def paged(
        self, request: HttpRequest, user: User, queryset: QuerySet[Any], filters: dict[str, str]
    ) -> Any:
        if not self.keyset:
            return page_of(request, queryset)
        page = Keyset(self.name, self.keyset).page(queryset, request.GET.get(CURSOR) or None)
        filtered = any(value.strip() for value in filters.values())
        page.count = row_count(queryset, user=user, filtered=filtered)
        return page

    def list_view(self) -> View:
        @login_required
        def view(request: HttpRequest) -> HttpResponse:
            user = actor(request)
            self._require(self.allowed, user)
            queryset, filters = self.queryset(request, user)
            search = self._search_context(queryset, filters)
            if search.get("more_match"):
                # The first search_limit matches in the list's order, as a subquery, so that a
                # keyset page can still be taken from them.
                queryset = queryset.filter(pk__in=queryset.values("pk")[: self.search_limit])
            page = self.paged(request, user, queryset, filters)
            context = {
                **search,
                "page": page,
                "filters": filters,
                "query": query_without_page(request),
                "export_query": query_without_page(request),
                **self.context(user),
            }
            if self.rows is not None:
                context["rows"] = self.rows(user, page)
            return render(request, self.template, context)

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_list"
        return view

    def export_view(self) -> View:
        @login_required
        def view(request: HttpRequest, fmt: str) -> HttpResponse:
            user = actor(request)
            self._require(self.export_allowed or self.allowed, user)
            found = self.filterset(request.GET, actor=user, selector=self.selector)
            queryset = found.qs
            if fmt not in exports.FORMATS:
                raise NotFound()
            # Past GRIDVEND_EXPORT_INLINE_ROWS the file is written by a job, not by this worker.
            if export_services.exceeds_inline_limit(queryset):
                given = {name: request.GET.get(name, "") for name in found.filters}
                try:
                    export_services.request_export(
                        actor=user, source=self.name, filters=given, format=fmt
                    )
                except ExportLimitReached as exc:
                    messages.error(request, describe(exc))
                else:
                    messages.info(
                        request,
                        _("The export is large: it is being written and will be listed here."),
                    )
                return redirect("web:export-list")
            return exports.respond(
                fmt, self.name, self.columns, queryset.iterator(chunk_size=EXPORT_CHUNK)
            )

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_export"
        return view
