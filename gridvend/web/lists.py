"""A list screen and its CSV/XLSX export declared once, from one filter set and one selector.

NetBox's ``ObjectListView`` idea in a few lines: a list screen and its export must show the same
rows for the same query string, so both are built from one :class:`ObjectList` — the typed filter
set, the scoped selector, who may read it, the page's template and the export's columns. A new
list (and later its API endpoint) declares what differs and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from gridvend.exports import registry as export_registry
from gridvend.exports import services as export_services
from gridvend.exports.errors import ExportLimitReached
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.web.backoffice import exports
from gridvend.web.errors import describe
from gridvend.web.filters import SelectorFilterSet
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

    def __post_init__(self) -> None:
        # Every list is an export source: a large export is written by a job from these.
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

    def list_view(self) -> View:
        @login_required
        def view(request: HttpRequest) -> HttpResponse:
            user = actor(request)
            self._require(self.allowed, user)
            queryset, filters = self.queryset(request, user)
            page = page_of(request, queryset)
            context = {
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
