"""The partner float and settlement summary (issue 13): per partner of the unit, its float over
the period (opening, sales, reversals, top-ups, closing, read from its ledger account by
``partners.selectors.float_statement``, the partner screens' and CLI's statement) and where its
settlement stands for the period's days (files received, days missing, items still open).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.models import User
from gridvend.partners import selectors as partner_selectors
from gridvend.partners.models import (
    ItemStatus,
    Resolution,
    SettlementDay,
    SettlementDayStatus,
    SettlementFileStatus,
    SettlementItem,
)
from gridvend.reports.base import (
    CellKind,
    Column,
    ReportResult,
    ReportRow,
    ReportSpec,
    ReportTable,
    RowRole,
    register,
)
from gridvend.reports.catalogue import _prepare, _result
from gridvend.reports.details import DETAIL_LIMIT, truncation_note
from gridvend.reports.filters import UngroupedFilterSet
from gridvend.reports.permissions import can_read_reports

TITLE = gettext_lazy("Partner floats and settlement")
# Items whose difference is still to be decided.
UNDECIDED = (Resolution.OPEN, Resolution.PENDING)
SUMMED = (
    "opening",
    "sale_count",
    "sales",
    "reversal_count",
    "reversals",
    "top_up_count",
    "top_ups",
    "closing",
    "received",
    "missing",
    "open_items",
)


class FloatsFilterSet(UngroupedFilterSet):
    """The period, the unit and one partner: the only filters a float statement reads."""

    point = None  # type: ignore[assignment]
    operator = None  # type: ignore[assignment]
    channel = None  # type: ignore[assignment]
    tariff = None  # type: ignore[assignment]
    sgc = None  # type: ignore[assignment]
    ti = None  # type: ignore[assignment]


def _columns() -> list[Column]:
    return [
        Column("partner", _("Partner")),
        Column("opening", _("Opening float"), CellKind.MONEY),
        Column("sale_count", _("Sales"), CellKind.INT),
        Column("sales", _("Sold"), CellKind.MONEY),
        Column("reversal_count", _("Reversals"), CellKind.INT),
        Column("reversals", _("Reversed"), CellKind.MONEY),
        Column("top_up_count", _("Top-ups"), CellKind.INT),
        Column("top_ups", _("Topped up"), CellKind.MONEY),
        Column("closing", _("Closing float"), CellKind.MONEY),
        Column("ties", _("Ties to the ledger")),
        Column("received", _("Files received"), CellKind.INT),
        Column("missing", _("Days missing"), CellKind.INT),
        Column("open_items", _("Items open"), CellKind.INT),
        Column("settlement", _("Settlement")),
    ]


def build_partner_floats(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """One row per partner of the unit (or the chosen one): its float statement over the period
    and its settlement days and open items. Three ledger reads per partner and two settlement
    queries for all; at most DETAIL_LIMIT partners."""
    f = _prepare(actor, values, grouped=False)
    partners = partner_selectors.list_partners(actor, unit=f.unit)
    if f.partner is not None:
        partners = partners.filter(pk=f.partner.pk)
    found = list(partners[: DETAIL_LIMIT + 1])
    cut = len(found) > DETAIL_LIMIT
    found = found[:DETAIL_LIMIT]
    ids = [p.pk for p in found]
    days: dict[tuple[int, str], int] = {
        (row["partner_id"], row["status"]): int(row["n"])
        for row in SettlementDay.objects.filter(
            partner_id__in=ids, business_date__gte=f.date_from, business_date__lte=f.date_to
        )
        .order_by()
        .values("partner_id", "status")
        .annotate(n=Count("id"))
    }
    open_items: dict[int, int] = {
        row["file__partner_id"]: int(row["n"])
        for row in SettlementItem.objects.filter(
            ~Q(status=ItemStatus.MATCHED),
            file__partner_id__in=ids,
            file__status=SettlementFileStatus.RECONCILED,
            file__business_date__gte=f.date_from,
            file__business_date__lte=f.date_to,
            resolution__in=UNDECIDED,
        )
        .order_by()
        .values("file__partner_id")
        .annotate(n=Count("id"))
    }
    per_currency: dict[str, list[ReportRow]] = {}
    totals: dict[str, dict[str, int]] = {}
    for partner in found:
        statement = partner_selectors.float_statement(partner, f.date_from, f.date_to)
        missing = days.get((partner.pk, SettlementDayStatus.MISSING), 0)
        undecided = open_items.get(partner.pk, 0)
        if missing or undecided:
            status = _("Open")
        elif days.get((partner.pk, SettlementDayStatus.RECEIVED), 0):
            status = _("Settled")
        else:
            status = _("No files")
        cells: dict[str, Any] = {
            "partner": f"{partner.name} ({partner.code})",
            "opening": statement.opening.minor,
            "sale_count": statement.sale_count,
            "sales": statement.sales.minor,
            "reversal_count": statement.reversal_count,
            "reversals": statement.reversals.minor,
            "top_up_count": statement.top_up_count,
            "top_ups": statement.top_ups.minor,
            "closing": statement.closing.minor,
            "ties": _("Yes") if statement.ties else _("No"),
            "received": days.get((partner.pk, SettlementDayStatus.RECEIVED), 0),
            "missing": missing,
            "open_items": undecided,
            "settlement": status,
        }
        per_currency.setdefault(partner.currency, []).append(ReportRow(cells))
        total = totals.setdefault(partner.currency, dict.fromkeys(SUMMED, 0))
        for key in SUMMED:
            total[key] += int(cells[key])
    tables = [
        ReportTable(
            title=_("Partner floats in %(currency)s") % {"currency": currency},
            columns=_columns(),
            rows=[*rows, ReportRow({"partner": _("Total")} | totals[currency], RowRole.TOTAL)],
            currency=currency,
            truncated_note=truncation_note(DETAIL_LIMIT) if cut else "",
        )
        for currency, rows in sorted(per_currency.items())
    ]
    if not tables:
        tables = [
            ReportTable(
                title=TITLE,
                columns=_columns(),
                rows=[ReportRow({"partner": _("Total")}, RowRole.TOTAL)],
            )
        ]
    notes = [
        _(
            "Each partner's float account in the ledger over the period's business days: "
            "opening + top-ups - sales + reversals = closing (Ties to the ledger says the "
            "closing read from the ledger agrees). Settlement: the days whose file came or was "
            "flagged missing, and the items of the period's files that differ and are not yet "
            "decided."
        ),
        _("Only the unit and partner filters apply."),
    ]
    return _result("partner-floats", TITLE, f, tables, notes)


register(
    ReportSpec(
        slug="partner-floats",
        title=TITLE,
        summary=gettext_lazy(
            "Per partner: opening float, sales, reversals, top-ups, closing float and where "
            "its settlement stands."
        ),
        filterset=FloatsFilterSet,
        build=build_partner_floats,
        may_read=can_read_reports,
    )
)
