"""A list screen and its CSV/XLSX export declared once, from one filter set and one selector.

NetBox's ``ObjectListView`` idea in a few lines: a list screen and its export must show the same
rows for the same query string, so both are built from one :class:`ObjectList` — the typed filter
set, the scoped selector, who may read it, the page's template and the export's columns. A new
list (and later its API endpoint) declares what differs and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gridvend.customers.search import read_search
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.web.backoffice import exports
from gridvend.web.filters import SelectorFilterSet
from gridvend.web.search import too_short_message
from gridvend.web.sessions import actor

PAGE_SIZE = 50
EXPORT_CHUNK = 1000

View = Callable[..., HttpResponse]


def _anyone(user: User) -> bool:
    # Lists whose selector already narrows the rows to what the user may see (their own subtree).
    return user.is_active


def page_of(request: HttpRequest, items: Any, size: int = PAGE_SIZE) -> Page[Any]:
    return Paginator(items, size).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@dataclass(frozen=True)
class ObjectList:
    """One list: its rows, who reads them, how the page shows them and how the file carries them.

    ``context`` adds what only this page needs (choices for its filters, what the user may do);
    ``rows`` turns the page's objects into what the template iterates when it needs more than the
    objects themselves. The export obeys the same filters and the same scope as the page.
    """

    name: str
    filterset: type[SelectorFilterSet]
    selector: Callable[..., QuerySet[Any]]
    columns: list[exports.Column]
    template: str = ""
    allowed: Callable[[User], bool] = _anyone
    export_allowed: Callable[[User], bool] | None = None
    context: Callable[[User], dict[str, Any]] = field(default=lambda user: {})
    rows: Callable[[User, Page[Any]], Any] | None = None
    # For a list whose ``q`` is a customer search (gridvend.customers.search): a search shows
    # at most this many rows and says when more match, so a common name is not counted through.
    search_limit: int | None = None

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

    def list_view(self) -> View:
        @login_required
        def view(request: HttpRequest) -> HttpResponse:
            user = actor(request)
            self._require(self.allowed, user)
            queryset, filters = self.queryset(request, user)
            search = self._search_context(queryset, filters)
            if search.get("more_match"):
                queryset = queryset[: self.search_limit]
            page = page_of(request, queryset)
            context = {
                **search,
                "page": page,
                "filters": filters,
                "query": query_without_page(request),
                "export_query": request.GET.urlencode(),
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
            queryset, _filters = self.queryset(request, user)
            return exports.respond(
                fmt, self.name, self.columns, queryset.iterator(chunk_size=EXPORT_CHUNK)
            )

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_export"
        return view
