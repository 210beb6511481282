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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from gridvend import keyset
from gridvend.customers.search import read_search
from gridvend.exports import registry as export_registry
from gridvend.exports import services as export_services
from gridvend.exports.errors import ExportLimitReached
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.keyset import RowCount
from gridvend.web.backoffice import exports
from gridvend.web.errors import describe
from gridvend.web.filters import SelectorFilterSet
from gridvend.web.search import too_short_message
from gridvend.web.sessions import actor

PAGE_SIZE = 50
EXPORT_CHUNK = 1000
# A filtered list counts at most this many rows and shows "1,000+" past it: a person needs to
# know whether a search found a handful or "a lot", not whether it found 734,212.
COUNT_CAP = 1000
MAX_CURSOR_LENGTH = keyset.MAX_CURSOR_LENGTH
CURSOR = keyset.CURSOR

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
# The machinery lives in gridvend.keyset (the detail reports page with it too); a list's pages
# are PAGE_SIZE rows, read when the list's Keyset is made.


class Keyset(keyset.Keyset):
    def __init__(self, name: str, ordering: Sequence[str], size: int | None = None) -> None:
        super().__init__(name, ordering, size or PAGE_SIZE)


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
