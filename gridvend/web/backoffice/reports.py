"""The reports screens: the index of the reports the user may read, and one report with its
filter form, tables (subtotal and total rows marked), notes and who made it when. The figures
come from the report's builder (``gridvend.reports``); this module only formats its cells.

Its files (``?format=csv|xlsx|pdf``) are rendered by ``gridvend.reports.render`` from the same
result; the links appear once that renderer is installed.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gridvend.exports import services as export_services
from gridvend.exports.errors import ExportLimitReached
from gridvend.identity import selectors as identity_selectors
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.org import selectors as org_selectors
from gridvend.org.models import Channel
from gridvend.partners import selectors as partner_selectors
from gridvend.reports import charts, dashboard, exporting, paging, subscriptions
from gridvend.reports.base import (
    REPORTS,
    CellKind,
    ReportResult,
    ReportSpec,
    ReportTable,
    TablePaging,
    readable_reports,
)
from gridvend.reports.errors import (
    ReportPdfBusy,
    ReportSubscriberNoEmail,
    ReportSubscriptionLimit,
    ReportTooLargeForPdf,
)
from gridvend.reports.filters import GROUPING_LABELS, invalid
from gridvend.reports.models import SubscriptionFormat, SubscriptionFrequency
from gridvend.reports.permissions import can_read_reports
from gridvend.tariffs import selectors as tariff_selectors
from gridvend.web import slots
from gridvend.web.backoffice import access
from gridvend.web.backoffice.common import unit_choices
from gridvend.web.caching import forbid_storing
from gridvend.web.errors import describe
from gridvend.web.numbers import kwh_text
from gridvend.web.sessions import actor

RENDERER = "gridvend.reports.render"
EXPORT_FORMATS = ("csv", "xlsx", "pdf")
# Choices offered in the filter form's select boxes (the filters take any id in scope).
MAX_CHOICES = 500
# Subtotal rows are indented by their depth, up to Bootstrap's largest padding step.
MAX_INDENT = 5


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[("", "")] + [(f, f) for f in EXPORT_FORMATS], required=False
    )


def renderer_installed() -> bool:
    return importlib.util.find_spec(RENDERER) is not None


@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    specs = readable_reports(user)
    access.require(bool(specs))
    return render(
        request,
        "backoffice/report_index.html",
        {"specs": specs, "dashboard": can_read_reports(user)},
    )


def _text(kind: CellKind, value: Any, currency: str) -> str:
    if value is None or value == "":
        return ""
    if kind == CellKind.MONEY:
        major = Money(int(value), currency).to_major()
        return f"{'-' if major < 0 else ''}{abs(major):,}"
    if kind == CellKind.KWH:
        shown = kwh_text(value)  # to the tenth, as everywhere; grouped by thousands as money is
        return f"{Decimal(shown):,}" if shown else ""
    if kind == CellKind.INT:
        return f"{int(value):,}"
    if kind == CellKind.PERCENT:
        return f"{Decimal(value):f} %"
    if kind == CellKind.DATETIME and isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if kind == CellKind.DATE and isinstance(value, date):
        return value.isoformat()
    return str(value)


def _table(table: ReportTable, query: QueryDict | None = None, path: str = "") -> dict[str, Any]:
    numeric = {CellKind.INT, CellKind.MONEY, CellKind.KWH, CellKind.PERCENT}
    return {
        "title": table.title,
        # A detail table's rows say their currency in a column of their own.
        "currency": table.currency if table.headings_name_currency() else "",
        "truncated_note": table.truncated_note,
        "columns": [(c.label, c.kind in numeric) for c in table.columns],
        "rows": [
            {
                "role": str(row.role),
                "indent": min(row.depth, MAX_INDENT),
                "cells": [
                    (_text(c.kind, row.cells.get(c.key), table.currency_of(row)), c.kind in numeric)
                    for c in table.columns
                ],
            }
            for row in table.rows
        ],
        "paging": None
        if table.paging is None or query is None
        else _paging_links(table.paging, query, path),
        "key": table.detail_key,
    }


def _paging_links(paging: TablePaging, query: QueryDict, path: str) -> dict[str, str]:
    """The links to the first, previous and next pages of one detail table: the screen's query
    with that table's cursor changed (the other tables stay on their pages)."""

    def href(cursor: str | None) -> str:
        changed = query.copy()
        changed.pop(paging.param, None)
        if cursor:
            changed[paging.param] = cursor
        return f"{path}?{changed.urlencode()}"

    links = {}
    if not paging.is_first:
        links["first"] = href(None)
    if paging.previous_cursor:
        links["previous"] = href(paging.previous_cursor)
    if paging.next_cursor:
        links["next"] = href(paging.next_cursor)
    return links


def _choices(user: User) -> dict[str, Any]:
    return {
        "units": unit_choices(user),
        "points": [(p.pk, str(p)) for p in org_selectors.list_vending_points(user)[:MAX_CHOICES]],
        "operators": [
            (u.pk, f"{u.full_name} ({u.username})")
            for u in identity_selectors.list_users(user)[:MAX_CHOICES]
        ],
        "partners": [
            (p.pk, f"{p.name} ({p.code})")
            for p in partner_selectors.list_partners(user)[:MAX_CHOICES]
        ],
        "tariffs": [
            (t.pk, f"{t.name} ({t.code})")
            for t in tariff_selectors.list_visible_tariffs(user)[:MAX_CHOICES]
        ],
        "channels": Channel.choices,
        "groups": [(k, v) for k, v in GROUPING_LABELS.items()],
    }


def _file_rows(fmt: str) -> paging.Whole:
    """How many detail rows a file made in the request reads: all of them for CSV and XLSX (the
    caller made sure they are at most GRIDVEND_EXPORT_INLINE_ROWS), and for a PDF one more than
    it may hold, so that a longer report is refused rather than cut."""
    if fmt == "pdf":
        renderer: Any = importlib.import_module(RENDERER)
        return paging.Whole(renderer.PDF_ROW_LIMIT + 1)
    return paging.Whole(settings.EXPORT_INLINE_ROWS)


def _queue_export(
    request: HttpRequest, user: User, spec: ReportSpec, filters: dict[str, str], fmt: str
) -> HttpResponse:
    """A file too large to make in the request: an export job writes it, listed in My exports."""
    try:
        export_services.request_export(
            actor=user,
            source=exporting.source_name(spec.slug),
            filters=filters,
            format=fmt,
            language=get_language() or "",
        )
    except ExportLimitReached as exc:
        messages.error(request, describe(exc))
    else:
        messages.info(
            request, gettext("The export is large: it is being written and will be listed here.")
        )
    return redirect("web:export-list")


def _export(result: ReportResult, fmt: str) -> HttpResponse:
    renderer: Any = importlib.import_module(RENDERER)
    content, content_type, name = renderer.render(result, fmt, language=get_language() or "en")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return forbid_storing(response)


@contextlib.contextmanager
def _pdf_slot(user: User, fmt: str) -> Iterator[bool]:
    """A PDF is made only in a free slot (gridvend.web.slots); other formats always are."""
    if fmt != "pdf":
        yield True
        return
    with slots.held("report-pdf", person=user.pk, slots=settings.REPORT_PDF_CONCURRENCY) as free:
        yield free


def _busy(request: HttpRequest) -> HttpResponse:
    error = ReportPdfBusy()
    context = {"status": 429, "error": error, "message": describe(error)}
    response = render(request, "web/error.html", context, status=429)
    response["Retry-After"] = "30"
    return response


def _readable_spec(user: User, slug: str) -> ReportSpec:
    """The report of ``slug`` if the user may read it: an unknown report is 404, one the user
    may not read 403."""
    spec = REPORTS.get(slug)
    if spec is None:
        raise NotFound()
    access.require(spec.may_read(user))
    return spec


@login_required
def report_detail(request: HttpRequest, slug: str) -> HttpResponse:
    user = actor(request)
    spec = _readable_spec(user, slug)
    export = ExportForm(request.GET)
    if not export.is_valid():
        raise invalid("format", " ".join(str(e) for e in export.errors.get("format", [])))
    fmt = export.cleaned_data["format"]
    filterset = spec.filterset(request.GET)
    values = filterset.values()
    if fmt:
        if not renderer_installed():
            raise NotFound()
        if fmt != "pdf" and exporting.exceeds_inline_rows(spec, user, values):
            return _queue_export(request, user, spec, filterset.echo(), fmt)
        built = spec.run(user, {**values, paging.ROWS: _file_rows(fmt)})
        # The slot covers the rendering, the part that takes the CPU (a build is a screen's).
        with _pdf_slot(user, fmt) as free:
            if not free:
                return _busy(request)
            try:
                return _export(built, fmt)
            except ReportTooLargeForPdf as exc:
                # The user asked for something this report cannot be: the sentence names the
                # way out (narrower filters, CSV or XLSX), not a server error.
                context = {"status": 400, "error": exc, "message": describe(exc)}
                return render(request, "web/error.html", context, status=400)
    result = spec.run(user, {**values, paging.ROWS: paging.cursors(spec.details, request.GET)})
    screen = request.GET.copy()
    screen.pop("format", None)
    query = screen.copy()
    for detail in spec.details:
        # Files and subscriptions hold every row: a page's cursor means nothing to them.
        query.pop(detail.param, None)
    return render(
        request,
        "backoffice/report_detail.html",
        {
            "spec": spec,
            "result": result,
            "tables": [_table(t, screen, request.path) for t in result.tables],
            "filters": filterset.echo(),
            "choices": _choices(user),
            "exports": [
                (fmt_, f"?{query.urlencode()}&format={fmt_}" if query else f"?format={fmt_}")
                for fmt_ in EXPORT_FORMATS
            ]
            if renderer_installed()
            else [],
            "export_labels": {"csv": _("CSV"), "xlsx": _("XLSX"), "pdf": _("PDF")},
            # The filters as the filter set read them (never a value cut in half, never a
            # parameter that is not a filter).
            "subscribe_query": subscriptions.kept_query(
                urlencode(sorted((k, v) for k, v in filterset.echo().items() if v))
            ),
            "subscribe_formats": SubscriptionFormat.choices,
            "subscribe_frequencies": list(FREQUENCY_LABELS.items()),
            "weekdays": WEEKDAYS,
        },
    )


def _dashboard_table(table: ReportTable) -> dict[str, Any]:
    """A table as ``_table`` shows it, each cell also saying whether it may wrap (dates and
    figures never do: a wrapped date reads backwards right to left)."""
    shown = _table(table)
    keep = [c.kind in {CellKind.DATE, CellKind.DATETIME} for c in table.columns]
    for row in shown["rows"]:
        row["cells"] = [
            (text, numeric, numeric or whole)
            for (text, numeric), whole in zip(row["cells"], keep, strict=True)
        ]
    return shown


@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The dashboard of a unit of the user's subtree (``?unit=``, ``?day=``), and its PDF."""
    user = actor(request)
    access.require(can_read_reports(user))
    export = ExportForm(request.GET)
    if not export.is_valid():
        raise invalid("format", " ".join(str(e) for e in export.errors.get("format", [])))
    fmt = export.cleaned_data["format"]
    filterset = dashboard.DashboardFilterSet(request.GET)
    if fmt:
        if not renderer_installed():
            raise NotFound()
        built = dashboard.build_dashboard(user, filterset.values())
        with _pdf_slot(user, fmt) as free:
            if not free:
                return _busy(request)
            return _export(built, fmt)
    result = dashboard.build_dashboard(user, filterset.values())
    query = request.GET.copy()
    query.pop("format", None)
    query["format"] = "pdf"
    abnormal = dashboard.abnormal_report(user)
    return render(
        request,
        "backoffice/dashboard.html",
        {
            "result": result,
            "tables": [_dashboard_table(t) for t in result.tables],
            "abnormal_after": dashboard.CUSTOMERS_TABLE + 1,
            "charts": [(c.title, charts.data_uri(charts.chart_svg(c))) for c in result.charts],
            "filters": filterset.echo(),
            "units": unit_choices(user),
            "pdf_href": f"?{query.urlencode()}" if renderer_installed() else "",
            "abnormal": abnormal,
        },
    )


# Subscriptions -----------------------------------------------------------------------------------

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]
FREQUENCY_LABELS: dict[str, Promise] = {
    SubscriptionFrequency.DAILY: _("Daily, the day before"),
    SubscriptionFrequency.WEEKLY: _("Weekly, the seven days before"),
    SubscriptionFrequency.MONTHLY: _("Monthly on the 1st, the month before"),
}


class SubscribeForm(forms.Form):
    format = forms.ChoiceField(choices=SubscriptionFormat.choices)
    frequency = forms.ChoiceField(choices=list(FREQUENCY_LABELS.items()))
    weekday = forms.TypedChoiceField(
        choices=[("", ""), *WEEKDAYS], coerce=int, required=False, empty_value=None
    )
    # The report screen's filters, as its query string (checked by the report's filter set).
    query = forms.CharField(max_length=subscriptions.MAX_QUERY_LENGTH, required=False)


class SubscriptionActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("pause", "pause"), ("resume", "resume"), ("delete", "delete")]
    )


def _refuse(form: forms.Form) -> None:
    field, problems = next(iter(form.errors.items()))
    raise invalid(field, " ".join(str(p) for p in problems))


@require_POST
@login_required
def report_subscribe(request: HttpRequest, slug: str) -> HttpResponse:
    """Subscribe to the report with the filters the screen shows (its query string)."""
    user = actor(request)
    _readable_spec(user, slug)
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        _refuse(form)
    data = form.cleaned_data
    try:
        subscriptions.subscribe(
            actor=user,
            slug=slug,
            query=data["query"],
            format=data["format"],
            frequency=data["frequency"],
            weekday=data["weekday"],
        )
    except (ReportSubscriptionLimit, ReportSubscriberNoEmail) as exc:
        messages.error(request, describe(exc))
    else:
        messages.success(request, gettext("Subscribed: the report will be sent by e-mail."))
    return redirect("backoffice:report-subscriptions")


@login_required
def report_subscription_list(request: HttpRequest) -> HttpResponse:
    """My subscriptions: everyone signed in has their own (possibly none)."""
    user = actor(request)
    rows = []
    for sub in subscriptions.list_subscriptions(user):
        spec = REPORTS.get(sub.slug)
        rows.append(
            {
                "pk": sub.pk,
                "title": spec.title if spec else sub.slug,
                "link": f"{reverse_detail(sub.slug)}?{sub.query}" if spec else "",
                "query": sub.query,
                "format": sub.format.upper(),
                "frequency": FREQUENCY_LABELS.get(sub.frequency, sub.frequency),
                "weekday": dict(WEEKDAYS).get(sub.weekday, "") if sub.weekday is not None else "",
                "active": sub.active,
                "suspended_code": sub.suspended_code,
            }
        )
    return render(request, "backoffice/report_subscriptions.html", {"rows": rows})


def reverse_detail(slug: str) -> str:
    return reverse("backoffice:report-detail", kwargs={"slug": slug})


@require_POST
@login_required
def report_subscription_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Pause, resume or delete one of my subscriptions (another's answers 404)."""
    user = actor(request)
    subscriptions.get_subscription(user, pk)
    form = SubscriptionActionForm(request.POST)
    if not form.is_valid():
        _refuse(form)
    action = form.cleaned_data["action"]
    if action == "delete":
        subscriptions.delete_subscription(actor=user, pk=pk)
        messages.success(request, gettext("The subscription was deleted."))
    else:
        subscriptions.set_active(actor=user, pk=pk, active=action == "resume")
        messages.success(request, gettext("The subscription was changed."))
    return redirect("backoffice:report-subscriptions")
