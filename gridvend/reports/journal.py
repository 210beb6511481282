"""The sales journal (issue 13): every sale of the period that the filters select, one row each,
with what it took and what it was made of (tender, energy value, kWh, each tax, fixed charges,
debt recovered), who sold it where, its status and its tokens, read from the sales themselves a
keyset page at a time (time, then id), and the period's totals per currency.

The sales are the sales report's (credit sales and debt payments) under the same filters and
scope, by the time they were made in the utility's time zone; a reversed sale stays listed, with
its status. The totals are those of the listed sales, read from the roll-up like the sales
report's (``gridvend.reports.rollup``: exact and live), so a page never sums a million rows.
Tokens are shown as in the other detail reports (``details.shown_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.org.models import Channel
from gridvend.reports import paging, rollup
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
from gridvend.reports.catalogue import SALE_KINDS, _prepare, _result, _selection, freshness_note
from gridvend.reports.details import _customer, _tokens_of, person, sale_filter, shown_tokens
from gridvend.reports.filters import ReportFilters, UngroupedFilterSet
from gridvend.reports.paging import DetailTable
from gridvend.reports.permissions import can_read_reports
from gridvend.tariffs.models import TariffVersion
from gridvend.vending.models import Sale, SaleStatus

SLUG = "sales-journal"
TITLE = gettext_lazy("Sales journal")
# Tax columns a journal shows at most (one per tax code of the tariffs; a utility has a few).
MAX_TAX_COLUMNS = 12
TAX_PREFIX = "tax:"


SALE_COLUMNS = (
    "created_at",
    "reference",
    "kind",
    "status",
    "channel",
    "currency",
    "tender_minor",
    "energy_minor",
    "kwh",
    "tax_minor",
    "fixed_charges_minor",
    "debt_recovered_minor",
    "breakdown",
    "meter__number",
    "customer__name",
    "customer__account_number",
    "vending_point__name",
    "vending_point__code",
    "operator__username",
    "shift__operator_id",
)


def sales_in(f: ReportFilters) -> QuerySet[Sale]:
    """The credit sales and debt payments made in the period (their time, indexed) that the
    filters select, under the unit they name."""
    return (
        Sale.objects.filter(
            sale_filter(f),
            kind__in=SALE_KINDS,
            created_at__gte=f.start_utc,
            created_at__lt=f.end_utc,
        )
        .select_related("meter", "customer", "vending_point", "operator", "shift")
        # Only what a row shows: a million-row file builds a million of each of these objects.
        .only(*SALE_COLUMNS)
    )


def tax_codes() -> list[str]:
    """The tax codes of every tariff version, in order: the journal's tax columns (a sale's
    taxes are its price breakdown's, by code)."""
    codes: set[str] = set()
    for spec in TariffVersion.objects.values_list("spec", flat=True).iterator(chunk_size=200):
        taxes = spec.get("taxes") if isinstance(spec, dict) else None
        for tax in taxes or []:
            if isinstance(tax, dict) and isinstance(tax.get("code"), str) and tax["code"]:
                codes.add(tax["code"][:32])
    return sorted(codes)[:MAX_TAX_COLUMNS]


def taxes_of(sale: Sale) -> dict[str, int]:
    """The sale's taxes by code, in minor units, from its price breakdown."""
    found: dict[str, int] = {}
    breakdown = sale.breakdown if isinstance(sale.breakdown, dict) else {}
    for tax in breakdown.get("taxes") or []:
        if isinstance(tax, dict) and isinstance(tax.get("code"), str):
            code = tax["code"][:32]
            found[code] = found.get(code, 0) + int(tax.get("amount_minor") or 0)
    return found


_CHANNELS = dict(Channel.choices)


def _channel(code: str) -> str:
    labels = _CHANNELS
    if code in labels:
        return str(labels[code])
    return _("Back office") if code == "back_office" else code


def journal_columns() -> list[Column]:
    return [
        Column("time", _("Time"), CellKind.DATETIME),
        Column("reference", _("Receipt")),
        Column("meter", _("Meter")),
        Column("customer", _("Customer")),
        Column("point", _("Vending point")),
        Column("operator", _("Operator")),
        Column("channel", _("Channel")),
        Column("currency", _("Currency")),
        Column("tender", _("Tender"), CellKind.MONEY),
        Column("energy", _("Energy value"), CellKind.MONEY),
        Column("kwh", _("kWh"), CellKind.KWH),
        *(
            Column(f"{TAX_PREFIX}{code}", _("Tax: %(code)s") % {"code": code}, CellKind.MONEY)
            for code in tax_codes()
        ),
        Column("tax", _("Tax"), CellKind.MONEY),
        Column("fixed", _("Fixed charges"), CellKind.MONEY),
        Column("debt", _("Debt recovered"), CellKind.MONEY),
        Column("status", _("Status")),
        Column("token", _("Token")),
    ]


def journal_rows(actor: User, sales: Sequence[Sale]) -> list[ReportRow]:
    """A batch of sales as journal rows (one query for the batch's tokens)."""
    can_view = permissions.can_view_tokens(actor)
    tokens = _tokens_of([sale.pk for sale in sales])
    statuses = dict(SaleStatus.choices)
    rows = []
    for sale in sales:
        cells: dict[str, Any] = {
            "time": sale.created_at,
            "reference": sale.reference,
            "meter": sale.meter.number,
            "customer": _customer(sale),
            "point": str(sale.vending_point) if sale.vending_point is not None else "",
            "operator": person(sale.operator),
            "channel": _channel(sale.channel),
            "currency": sale.currency,
            "tender": sale.tender_minor,
            "energy": sale.energy_minor,
            "kwh": sale.kwh,
            "tax": sale.tax_minor,
            "fixed": sale.fixed_charges_minor,
            "debt": sale.debt_recovered_minor,
            "status": str(statuses.get(sale.status, sale.status)),
            "token": shown_tokens(actor, sale, tokens.get(sale.pk, []), can_view=can_view),
        }
        for code, amount in taxes_of(sale).items():
            cells[f"{TAX_PREFIX}{code}"] = amount
        rows.append(ReportRow(cells))
    return rows


JOURNAL = DetailTable(
    key="sales",
    title=gettext_lazy("Sales"),
    columns=journal_columns,
    queryset=sales_in,
    ordering=("created_at", "id"),
    rows=journal_rows,
)


def _totals(f: ReportFilters) -> tuple[ReportTable, str]:
    found, fresh = rollup.read_figures(_selection(f, SALE_KINDS), ("currency",))
    rows = []
    for (currency,), x in sorted(found.items()):
        rows.append(
            ReportRow(
                {
                    "currency": currency,
                    "count": x.sale_count,
                    "tender": x.tender_minor,
                    "energy": x.energy_minor,
                    "kwh": x.kwh,
                    "tax": x.tax_minor,
                    "fixed": x.fixed_charges_minor,
                    "debt": x.debt_recovered_minor,
                },
                RowRole.TOTAL,
            )
        )
    if not rows:
        rows.append(ReportRow({"currency": settings.CURRENCY, "count": 0}, RowRole.TOTAL))
    table = ReportTable(
        title=_("Total for the period"),
        columns=[
            Column("currency", _("Currency")),
            Column("count", _("Sales"), CellKind.INT),
            Column("tender", _("Tender"), CellKind.MONEY),
            Column("energy", _("Energy value"), CellKind.MONEY),
            Column("kwh", _("kWh"), CellKind.KWH),
            Column("tax", _("Tax"), CellKind.MONEY),
            Column("fixed", _("Fixed charges"), CellKind.MONEY),
            Column("debt", _("Debt recovered"), CellKind.MONEY),
        ],
        rows=rows,
    )
    return table, freshness_note(fresh)


def build_sales_journal(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """The period's totals per currency, then every sale, a page at a time on the screen."""
    f = _prepare(actor, values, grouped=False)
    totals, fresh = _totals(f)
    journal = JOURNAL.table(SLUG, f, paging.wanted(values))
    notes = [
        _(
            "Every credit sale and debt payment made in the period, by its time in the utility's "
            "time zone; a reversed sale stays listed with its status. The totals are those of "
            "the listed sales, reversed ones included."
        ),
        _(
            "Each tax is the sale's own, from its price breakdown; the tax column is their sum. "
            "Token digits are shown to the seller and to those who may see tokens; others see "
            "the last four digits."
        ),
        fresh,
    ]
    return _result(SLUG, TITLE, f, [totals, journal], notes)


register(
    ReportSpec(
        slug=SLUG,
        title=TITLE,
        summary=gettext_lazy(
            "Every sale of the period, one row each: time, receipt, meter, customer, vending "
            "point, operator, channel, tender, energy, kWh, each tax, fixed charges, debt "
            "recovered, status and token."
        ),
        filterset=UngroupedFilterSet,
        build=build_sales_journal,
        may_read=can_read_reports,
        details=(JOURNAL,),
    )
)
