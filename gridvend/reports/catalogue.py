"""The figure reports (issue 13, first part): sales, free issues, purchases per SGC and TI, debt
collection and the daily summary. Each is a builder ``(actor, values) -> ReportResult`` over the
sales roll-up and the raw rows after it (``gridvend.reports.rollup``), scoped to the organisation
unit the filters name, which lies in the actor's subtree (``filters.resolve``).

What counts: a sale's figures fall on its business date; a reversal's on its own local date, as
the roll-up keeps them, so a period's net is its sales less the reversals made in it.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.customers.models import Debt
from gridvend.identity.models import User
from gridvend.kernel.clock import day_bounds_utc
from gridvend.org.models import Channel, OrgUnit, VendingPoint
from gridvend.org.selectors import level_name, level_names
from gridvend.partners.models import Partner
from gridvend.reports import rollup
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
from gridvend.reports.filters import (
    Grouping,
    ReportFilters,
    ReportFilterSet,
    UngroupedFilterSet,
    invalid,
    resolve,
)
from gridvend.reports.permissions import can_read_reports, require_report_reader
from gridvend.reports.rollup import Figures, Freshness, Selection
from gridvend.tariffs.models import Tariff
from gridvend.vending.models import SaleKind

# The kinds that take money for energy or arrears: the sales report's rows.
SALE_KINDS = (SaleKind.CREDIT, SaleKind.DEBT_PAYMENT)
FREE_KINDS = (SaleKind.FBE, SaleKind.FREE_ISSUE)
# Daily rows one summary shows at most; a longer period is summarised per month.
MAX_SUMMARY_DAYS = 400
# Ageing of outstanding debt by the days since it was opened: (key, label, from, to) inclusive.
AGEING: tuple[tuple[str, Promise, int, int | None], ...] = (
    ("age_0_30", gettext_lazy("0-30 days"), 0, 30),
    ("age_31_90", gettext_lazy("31-90 days"), 31, 90),
    ("age_91_180", gettext_lazy("91-180 days"), 91, 180),
    ("age_181_365", gettext_lazy("181-365 days"), 181, 365),
    ("age_over_365", gettext_lazy("Over 365 days"), 366, None),
)

DIMENSION_OF: dict[Grouping, str] = {
    Grouping.TREE: "org_unit",
    Grouping.POINT: "vending_point",
    Grouping.OPERATOR: "operator",
    Grouping.CHANNEL: "channel",
    Grouping.PARTNER: "partner",
    Grouping.TARIFF: "tariff",
    Grouping.DAY: "business_date",
    Grouping.MONTH: "business_date",
}

T = TypeVar("T")


def _selection(f: ReportFilters, kinds: Sequence[str]) -> Selection:
    equal: list[tuple[str, Any]] = []
    if f.point is not None:
        equal.append(("vending_point", f.point.pk))
    if f.operator is not None:
        equal.append(("operator", f.operator.pk))
    if f.channel:
        equal.append(("channel", f.channel))
    if f.partner is not None:
        equal.append(("partner", f.partner.pk))
    if f.tariff is not None:
        equal.append(("tariff", f.tariff.pk))
    if f.sgc:
        equal.append(("sgc", f.sgc))
    if f.ti is not None:
        equal.append(("ti", f.ti))
    return Selection(f.date_from, f.date_to, f.unit.path, tuple(kinds), tuple(equal))


def freshness_note(fresh: Freshness) -> str:
    if not fresh.last_sale_id and not fresh.last_reversal_id:
        return _("The roll-up holds nothing yet: every figure is read from the sales themselves.")
    when = (
        timezone.localtime(fresh.folded_at).strftime("%Y-%m-%d %H:%M") if fresh.folded_at else "-"
    )
    return _(
        "Figures are exact up to now: the daily roll-up holds sales up to no. %(sale)s and "
        "reversals up to no. %(reversal)s (folded at %(when)s); later ones are read from the "
        "sales themselves."
    ) % {"sale": fresh.last_sale_id, "reversal": fresh.last_reversal_id, "when": when}


# --- labels of grouping keys -------------------------------------------------------------------


def _labels(group: Grouping, keys: Sequence[Any]) -> dict[Any, str]:
    """Names of the grouping keys of rows the report already scoped: the keys come from the
    actor's own sales (meters of their subtree), so a point, operator or partner is named because
    it sold to one of those meters, even when it belongs to another unit (a bank's branch selling
    across regions). Reading them through the scoped selectors would leave such rows nameless
    without hiding a figure."""
    ids = [k for k in keys if k is not None]
    none = {None: _("None")}
    if group == Grouping.POINT:
        none = {None: _("Back office (no vending point)")}
        return none | {p.pk: str(p) for p in VendingPoint.objects.filter(pk__in=ids)}
    if group == Grouping.OPERATOR:
        return none | {
            u.pk: f"{u.full_name} ({u.get_username()})" for u in User.objects.filter(pk__in=ids)
        }
    if group == Grouping.PARTNER:
        none = {None: _("No partner")}
        return none | {p.pk: f"{p.name} ({p.code})" for p in Partner.objects.filter(pk__in=ids)}
    if group == Grouping.TARIFF:
        return none | {t.pk: f"{t.name} ({t.code})" for t in Tariff.objects.filter(pk__in=ids)}
    if group == Grouping.CHANNEL:
        labels = dict(Channel.choices)
        return {k: str(labels.get(k, _("Back office") if k == "back_office" else k)) for k in keys}
    return {k: str(k) for k in keys}


def _month(day: datetime.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@dataclasses.dataclass
class Grouped(Generic[T]):
    """How one report's values per key are made, added up and shown as cells."""

    empty: Callable[[], T]
    merge: Callable[[T, T], None]
    cells: Callable[[T], dict[str, Any]]


def _figures_grouped(cells: Callable[[Figures], dict[str, Any]]) -> Grouped[Figures]:
    return Grouped(Figures, lambda into, more: into.add(more), cells)


def _total(grouped: Grouped[T], values: Sequence[T]) -> T:
    total = grouped.empty()
    for value in values:
        grouped.merge(total, value)
    return total


def _ancestor_ids(unit_path: str) -> list[int]:
    width = 8
    return [int(unit_path[i : i + width], 16) for i in range(0, len(unit_path), width + 1)]


def tree_rows(base: OrgUnit, per_unit: Mapping[int, T], grouped: Grouped[T]) -> list[ReportRow]:
    """One row per unit below ``base`` with figures, in tree order, and a subtotal row after
    the units under each unit that has any (its ``depth`` is its level below ``base``); a
    unit's own figures beside its children's are a detail row of their own."""
    leaves = OrgUnit.objects.filter(pk__in=list(per_unit))
    wanted: set[int] = set()
    for unit in leaves:
        wanted.update(_ancestor_ids(unit.path))
    units = {u.pk: u for u in OrgUnit.objects.filter(pk__in=wanted, path__startswith=base.path)}
    names = level_names()
    subtree: dict[int, T] = {}
    for unit_id, value in per_unit.items():
        found = units.get(unit_id)
        if found is None:
            continue
        for ancestor in _ancestor_ids(found.path):
            if ancestor in units:
                grouped.merge(subtree.setdefault(ancestor, grouped.empty()), value)
    children: dict[int, list[OrgUnit]] = {}
    for unit in units.values():
        if unit.pk != base.pk and unit.parent_id is not None:
            children.setdefault(unit.parent_id, []).append(unit)
    for kids in children.values():
        kids.sort(key=lambda u: (u.name, u.pk))
    rows: list[ReportRow] = []

    def emit(unit: OrgUnit, depth: int) -> None:
        level = level_name(unit.depth, names)
        kids = children.get(unit.pk, [])
        own = per_unit.get(unit.pk)
        if not kids:
            cells = {"group": unit.name, "level": level} | grouped.cells(subtree[unit.pk])
            rows.append(ReportRow(cells, RowRole.DETAIL, depth))
            return
        if own is not None:
            label = _("%(unit)s (own)") % {"unit": unit.name}
            rows.append(
                ReportRow({"group": label, "level": level} | grouped.cells(own), depth=depth + 1)
            )
        for kid in kids:
            emit(kid, depth + 1)
        label = _("Total %(unit)s") % {"unit": unit.name}
        cells = {"group": label, "level": level} | grouped.cells(subtree[unit.pk])
        rows.append(ReportRow(cells, RowRole.SUBTOTAL, depth))

    if base.pk in subtree:
        own = per_unit.get(base.pk)
        if own is not None:
            level = level_name(base.depth, names)
            rows.append(ReportRow({"group": base.name, "level": level} | grouped.cells(own)))
        for kid in children.get(base.pk, []):
            emit(kid, 0)
    return rows


def grouped_rows(
    f: ReportFilters, per_key: Mapping[Any, T], grouped: Grouped[T]
) -> list[ReportRow]:
    """The rows of a table grouped as the filters say, and its grand total row last."""
    if f.group == Grouping.TREE:
        rows = tree_rows(f.unit, per_key, grouped)
    else:
        if f.group == Grouping.MONTH:
            months: dict[Any, T] = {}
            for day, value in per_key.items():
                grouped.merge(months.setdefault(_month(day), grouped.empty()), value)
            per_key = months
        labels = _labels(f.group, list(per_key))
        if f.group in (Grouping.DAY, Grouping.MONTH):
            order = sorted(per_key, key=str)
        else:
            order = sorted(per_key, key=lambda k: (labels.get(k, str(k)), str(k)))
        rows = [
            ReportRow({"group": labels.get(k, str(k))} | grouped.cells(per_key[k])) for k in order
        ]
    total = _total(grouped, list(per_key.values()))
    rows.append(ReportRow({"group": _("Total")} | grouped.cells(total), RowRole.TOTAL))
    return rows


def group_columns(f: ReportFilters) -> list[Column]:
    columns = [Column("group", str(_group_label(f.group)))]
    if f.group == Grouping.TREE:
        columns.append(Column("level", _("Level")))
    return columns


def _group_label(group: Grouping) -> Promise:
    from gridvend.reports.filters import GROUPING_LABELS

    return GROUPING_LABELS[group]


def _by_currency(
    found: Mapping[tuple[Any, ...], Figures],
) -> dict[str, dict[tuple[Any, ...], Figures]]:
    """Figures keyed by (…, currency) split per currency (one table each), the rest as key."""
    split: dict[str, dict[tuple[Any, ...], Figures]] = {}
    for key, figures in found.items():
        split.setdefault(key[-1], {})[key[:-1]] = figures
    if not split:
        split[str(settings.CURRENCY)] = {}
    return split


def _result(
    slug: str, title: Promise, f: ReportFilters, tables: list[ReportTable], notes: list[Any]
) -> ReportResult:
    return ReportResult(
        slug=slug,
        title=title,
        generated_at=timezone.now(),
        generated_by=f.actor,
        filters=f.describe(),
        tables=tables,
        notes=notes,
    )


def _prepare(
    actor: User,
    values: Mapping[str, Any],
    default: Grouping = Grouping.TREE,
    *,
    grouped: bool = True,
) -> ReportFilters:
    """The filters of a report for ``actor``; ``grouped=False`` for one whose rows are not
    grouped (its filter set is an ``UngroupedFilterSet``, its files print no "Group by")."""
    require_report_reader(actor)
    return resolve(actor, values, default_group=default, grouped=grouped)


# --- sales -------------------------------------------------------------------------------------

SALES_TITLE = gettext_lazy("Sales")


def _sales_cells(x: Figures) -> dict[str, Any]:
    return {
        "count": x.sale_count,
        "tender": x.tender_minor,
        "energy": x.energy_minor,
        "kwh": x.kwh,
        "tax": x.tax_minor,
        "fixed": x.fixed_charges_minor,
        "debt": x.debt_recovered_minor,
        "reversed_count": x.reversed_count,
        "reversed": x.reversed_tender_minor,
        "net": x.net_tender_minor,
    }


def _sales_columns() -> list[Column]:
    return [
        Column("count", _("Sales"), CellKind.INT),
        Column("tender", _("Tender"), CellKind.MONEY),
        Column("energy", _("Energy value"), CellKind.MONEY),
        Column("kwh", _("kWh"), CellKind.KWH),
        Column("tax", _("Tax"), CellKind.MONEY),
        Column("fixed", _("Fixed charges"), CellKind.MONEY),
        Column("debt", _("Debt recovered"), CellKind.MONEY),
        Column("reversed_count", _("Reversals"), CellKind.INT),
        Column("reversed", _("Reversed"), CellKind.MONEY),
        Column("net", _("Net"), CellKind.MONEY),
    ]


def build_sales(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Credit sales and debt payments per the chosen grouping, with reversals and the net."""
    f = _prepare(actor, values)
    found, fresh = rollup.read_figures(
        _selection(f, SALE_KINDS), (DIMENSION_OF[f.group], "currency")
    )
    tables = []
    for currency, per_key in sorted(_by_currency(found).items()):
        rows = grouped_rows(
            f, {k[0]: v for k, v in per_key.items()}, _figures_grouped(_sales_cells)
        )
        tables.append(
            ReportTable(
                title=_("Sales in %(currency)s") % {"currency": currency},
                columns=group_columns(f) + _sales_columns(),
                rows=rows,
                currency=currency,
            )
        )
    notes = [
        freshness_note(fresh),
        _("A reversal counts on the day it was made; the net is the tender less the reversed."),
    ]
    return _result("sales", SALES_TITLE, f, tables, notes)


# --- free issues -------------------------------------------------------------------------------

FREE_TITLE = gettext_lazy("Free basic electricity and free issues")


def _free_empty() -> dict[str, Figures]:
    return {kind: Figures() for kind in FREE_KINDS}


def _free_merge(into: dict[str, Figures], more: dict[str, Figures]) -> None:
    for kind, figures in more.items():
        into.setdefault(kind, Figures()).add(figures)


def _free_cells(x: dict[str, Figures]) -> dict[str, Any]:
    fbe, free = x.get(SaleKind.FBE, Figures()), x.get(SaleKind.FREE_ISSUE, Figures())
    return {
        "fbe_count": fbe.net_count,
        "fbe_kwh": fbe.net_kwh,
        "free_count": free.net_count,
        "free_kwh": free.net_kwh,
        "value": fbe.net_energy_minor + free.net_energy_minor,
        "tax": fbe.net_tax_minor + free.net_tax_minor,
        "reversed_count": fbe.reversed_count + free.reversed_count,
    }


def build_free_issues(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """FBE tokens and goodwill free issues: how many, their kWh, value and taxes (net of the
    reversals made in the period)."""
    f = _prepare(actor, values)
    found, fresh = rollup.read_figures(
        _selection(f, FREE_KINDS), (DIMENSION_OF[f.group], "kind", "currency")
    )
    per_currency: dict[str, dict[Any, dict[str, Figures]]] = {}
    for (key, kind, currency), figures in found.items():
        per_currency.setdefault(currency, {}).setdefault(key, {})[kind] = figures
    if not per_currency:
        per_currency[str(settings.CURRENCY)] = {}
    grouped = Grouped(_free_empty, _free_merge, _free_cells)
    columns = [
        Column("fbe_count", _("FBE tokens"), CellKind.INT),
        Column("fbe_kwh", _("FBE kWh"), CellKind.KWH),
        Column("free_count", _("Free issues"), CellKind.INT),
        Column("free_kwh", _("Free issue kWh"), CellKind.KWH),
        Column("value", _("Value"), CellKind.MONEY),
        Column("tax", _("Tax"), CellKind.MONEY),
        Column("reversed_count", _("Reversals"), CellKind.INT),
    ]
    tables = [
        ReportTable(
            title=_("Free issues (%(currency)s)") % {"currency": currency},
            columns=group_columns(f) + columns,
            rows=grouped_rows(f, per_key, grouped),
            currency=currency,
        )
        for currency, per_key in sorted(per_currency.items())
    ]
    notes = [
        freshness_note(fresh),
        _("Counts, kWh, value and tax are net of the reversals made in the period."),
    ]
    return _result("free-issues", FREE_TITLE, f, tables, notes)


# --- purchases per SGC and TI ------------------------------------------------------------------

SGC_TITLE = gettext_lazy("Purchases per SGC and tariff index")


def build_purchases_by_sgc_ti(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Credit sales per supply group code (a subtotal each) and tariff index of the key the
    tokens were made for."""
    f = _prepare(actor, values, grouped=False)
    found, fresh = rollup.read_figures(_selection(f, (SaleKind.CREDIT,)), ("sgc", "ti", "currency"))
    tables = []
    for currency, per_key in sorted(_by_currency(found).items()):
        rows: list[ReportRow] = []
        sgcs = sorted({sgc for sgc, _ti in per_key})
        for sgc in sgcs:
            subtotal = Figures()
            label = sgc or _("Unknown")
            for (key_sgc, ti), figures in sorted(
                per_key.items(), key=lambda item: -1 if item[0][1] is None else item[0][1]
            ):
                if key_sgc != sgc:
                    continue
                subtotal.add(figures)
                rows.append(
                    ReportRow(
                        {"sgc": label, "ti": "" if ti is None else str(ti)} | _sgc_cells(figures),
                        depth=1,
                    )
                )
            rows.append(
                ReportRow(
                    {"sgc": _("Total %(unit)s") % {"unit": label}} | _sgc_cells(subtotal),
                    RowRole.SUBTOTAL,
                    0,
                )
            )
        total = Figures()
        for figures in per_key.values():
            total.add(figures)
        rows.append(ReportRow({"sgc": _("Total")} | _sgc_cells(total), RowRole.TOTAL))
        tables.append(
            ReportTable(
                title=_("Purchases in %(currency)s") % {"currency": currency},
                columns=[
                    Column("sgc", _("Supply group code")),
                    Column("ti", _("Tariff index")),
                    Column("count", _("Sales"), CellKind.INT),
                    Column("tender", _("Tender"), CellKind.MONEY),
                    Column("kwh", _("kWh"), CellKind.KWH),
                    Column("reversed_count", _("Reversals"), CellKind.INT),
                    Column("net", _("Net"), CellKind.MONEY),
                    Column("net_kwh", _("Net kWh"), CellKind.KWH),
                ],
                rows=rows,
                currency=currency,
            )
        )
    return _result("purchases-by-sgc-ti", SGC_TITLE, f, tables, [freshness_note(fresh)])


def _sgc_cells(x: Figures) -> dict[str, Any]:
    return {
        "count": x.sale_count,
        "tender": x.tender_minor,
        "kwh": x.kwh,
        "reversed_count": x.reversed_count,
        "net": x.net_tender_minor,
        "net_kwh": x.net_kwh,
    }


# --- debt collection ---------------------------------------------------------------------------

DEBT_TITLE = gettext_lazy("Debt collection")


@dataclasses.dataclass
class DebtFigures:
    recovered_minor: int = 0
    outstanding_minor: int = 0
    accounts: int = 0
    ageing: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, other: DebtFigures) -> None:
        self.recovered_minor += other.recovered_minor
        self.outstanding_minor += other.outstanding_minor
        self.accounts += other.accounts
        for key, value in other.ageing.items():
            self.ageing[key] = self.ageing.get(key, 0) + value


def _debt_cells(x: DebtFigures) -> dict[str, Any]:
    cells: dict[str, Any] = {
        "recovered": x.recovered_minor,
        "outstanding": x.outstanding_minor,
        "accounts": x.accounts,
    }
    for key, _label, _low, _high in AGEING:
        cells[key] = x.ageing.get(key, 0)
    return cells


def outstanding_debts(unit: OrgUnit, day: datetime.date) -> dict[tuple[int, str], DebtFigures]:
    """Debts still owed by the unit's customers, per customer unit and currency, with their
    ageing on ``day`` (days since the local day each debt was opened)."""

    def opened_on_or_after(days_ago: int) -> Q:
        return Q(
            opened_at__gte=day_bounds_utc(
                day - datetime.timedelta(days=days_ago), settings.TIME_ZONE
            )[0]
        )

    buckets: dict[str, Any] = {}
    for key, _label, low, high in AGEING:
        condition = Q(balance_minor__gt=0)
        if high is not None:
            condition &= opened_on_or_after(high)
        if low > 0:
            condition &= ~opened_on_or_after(low - 1)
        buckets[key] = Sum("balance_minor", filter=condition)
    rows = (
        Debt.objects.filter(customer__org_unit__path__startswith=unit.path, balance_minor__gt=0)
        .order_by()
        .values("customer__org_unit_id", "currency")
        .annotate(
            outstanding=Sum("balance_minor"),
            accounts=Count("customer", distinct=True),
            **buckets,
        )
    )
    found: dict[tuple[int, str], DebtFigures] = {}
    for row in rows:
        found[(row["customer__org_unit_id"], row["currency"])] = DebtFigures(
            outstanding_minor=int(row["outstanding"] or 0),
            accounts=int(row["accounts"]),
            ageing={key: int(row[key] or 0) for key, *_rest in AGEING},  # type: ignore[literal-required]
        )
    return found


def build_debt_collection(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Debt recovered by sales in the period (net of reversals made in it), and what is owed
    now: outstanding, accounts with debt and its ageing, per unit of the tree."""
    f = dataclasses.replace(_prepare(actor, values, grouped=False), group=Grouping.TREE)
    found, fresh = rollup.read_figures(_selection(f, ()), ("org_unit", "currency"))
    per: dict[tuple[int, str], DebtFigures] = outstanding_debts(f.unit, f.date_to)
    for (unit_id, currency), sold in found.items():
        if sold.net_debt_recovered_minor:
            entry = per.setdefault((unit_id, currency), DebtFigures())
            entry.recovered_minor += sold.net_debt_recovered_minor
    per_currency: dict[str, dict[int, DebtFigures]] = {}
    for (unit_id, currency), owed in per.items():
        per_currency.setdefault(currency, {})[unit_id] = owed
    if not per_currency:
        per_currency[str(settings.CURRENCY)] = {}
    grouped = Grouped(DebtFigures, lambda a, b: a.add(b), _debt_cells)
    columns = [
        Column("recovered", _("Recovered in the period"), CellKind.MONEY),
        Column("outstanding", _("Outstanding"), CellKind.MONEY),
        Column("accounts", _("Accounts with debt"), CellKind.INT),
    ] + [Column(key, label, CellKind.MONEY) for key, label, _low, _high in AGEING]
    tables = [
        ReportTable(
            title=_("Debt collection (%(currency)s)") % {"currency": currency},
            columns=group_columns(f) + columns,
            rows=grouped_rows(f, per_key, grouped),
            currency=currency,
        )
        for currency, per_key in sorted(per_currency.items())
    ]
    notes = [
        freshness_note(fresh),
        _(
            "Outstanding debt and its ageing are as they stand now, aged from the period's "
            "last day; the vending point, operator, channel, partner, tariff, SGC and TI "
            "filters apply to the debt recovered only."
        ),
    ]
    return _result("debt-collection", DEBT_TITLE, f, tables, notes)


# --- daily summary -----------------------------------------------------------------------------

SUMMARY_TITLE = gettext_lazy("Daily and monthly summary")


def _year_earlier(day: datetime.date) -> datetime.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def _month_end(first: datetime.date) -> datetime.date:
    return _add_months(first, 1) - datetime.timedelta(days=1)


def _periods(f: ReportFilters) -> list[tuple[list[Any], datetime.date, datetime.date]]:
    """The period's buckets (days or months), then the previous period's and last year's, each
    as (bucket keys, first day, last day)."""
    if f.group == Grouping.MONTH:
        first = f.date_from.replace(day=1)
        count = (f.date_to.year - first.year) * 12 + f.date_to.month - first.month + 1
        result = []
        for shift in (0, -count, -12):
            # The period's own days (a month at either end may be partial), moved by whole
            # months: never the rest of a month the period does not cover.
            start = _add_months(first, shift)
            months = [_add_months(start, i) for i in range(count)]
            end = _month_end(months[-1])
            if f.date_to != _month_end(f.date_to.replace(day=1)):
                end = end.replace(day=min(f.date_to.day, end.day))
            start = start.replace(day=min(f.date_from.day, _month_end(start).day))
            result.append(([_month(m) for m in months], start, end))
        return result
    days = f.days
    current = [f.date_from + datetime.timedelta(days=i) for i in range(days)]
    previous = [d - datetime.timedelta(days=days) for d in current]
    last_year = [_year_earlier(d) for d in current]
    return [(keys, keys[0], keys[-1]) for keys in (current, previous, last_year)]


def change_percent(now: int | Decimal, before: int | Decimal) -> Decimal | None:
    """The change from ``before`` to ``now`` in per cent of ``before``'s size: a rise is
    positive even from a negative figure (a day with more reversals than sales)."""
    if not before:
        return None
    return (Decimal(now - before) * 100 / abs(Decimal(before))).quantize(Decimal("0.1"))


def build_daily_summary(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Sales per day (or month) of the period, beside the previous period's and the same
    period's a year earlier: net count, net tender and net kWh."""
    f = _prepare(actor, values, Grouping.DAY)
    if f.group not in (Grouping.DAY, Grouping.MONTH):
        raise invalid("group", _("This report is grouped by day or by month."))
    if f.group == Grouping.DAY and f.days > MAX_SUMMARY_DAYS:
        raise invalid(
            "group",
            _("Over %(days)s days, group the summary by month.") % {"days": MAX_SUMMARY_DAYS},
        )
    periods = _periods(f)
    read: list[dict[tuple[Any, str], Figures]] = []
    fresh: Freshness | None = None
    for _keys, start, end in periods:
        selection = dataclasses.replace(_selection(f, SALE_KINDS), date_from=start, date_to=end)
        found, fresh = rollup.read_figures(selection, ("business_date", "currency"))
        bucketed: dict[tuple[Any, str], Figures] = {}
        for (day, currency), figures in found.items():
            key = _month(day) if f.group == Grouping.MONTH else day
            bucketed.setdefault((key, currency), Figures()).add(figures)
        read.append(bucketed)
    assert fresh is not None
    currencies = sorted({c for part in read for _k, c in part}) or [str(settings.CURRENCY)]
    columns = [
        Column("period", _("Period")),
        Column("count", _("Sales"), CellKind.INT),
        Column("net", _("Net"), CellKind.MONEY),
        Column("kwh", _("Net kWh"), CellKind.KWH),
        Column("previous_period", _("Previous period")),
        Column("previous_net", _("Previous net"), CellKind.MONEY),
        Column("previous_change", _("Change %"), CellKind.PERCENT),
        Column("last_year_period", _("Last year")),
        Column("last_year_net", _("Net last year"), CellKind.MONEY),
        Column("last_year_change", _("Change % on last year"), CellKind.PERCENT),
    ]
    tables = []
    for currency in currencies:
        rows = []
        # Each total is its whole range's, as its label says: not the rows added up, since a
        # year earlier 29 February is 28 February again (twice beside a leap day) and a leap
        # year's 29 February is no row's last year.
        totals = [Figures(), Figures(), Figures()]
        for part, total in zip(read, totals, strict=True):
            for (_key, in_currency), figures in part.items():
                if in_currency == currency:
                    total.add(figures)
        for index in range(len(periods[0][0])):
            beside: list[Figures] = []
            for part, (keys, _start, _end) in zip(read, periods, strict=True):
                beside.append(part.get((keys[index], currency), Figures()))
            rows.append(
                ReportRow(_summary_cells([str(keys[index]) for keys, _s, _e in periods], beside))
            )
        labels = [f"{start.isoformat()} – {end.isoformat()}" for _keys, start, end in periods]
        rows.append(
            ReportRow(_summary_cells(labels, totals) | {"period": _("Total")}, RowRole.TOTAL)
        )
        tables.append(
            ReportTable(
                title=_("Summary in %(currency)s") % {"currency": currency},
                columns=columns,
                rows=rows,
                currency=currency,
            )
        )
    notes = [
        freshness_note(fresh),
        _(
            "Net of the reversals made on each day. The previous period is as long as this "
            "one and ends the day before it starts."
        )
        if f.group == Grouping.DAY
        else _(
            "Net of the reversals made on each day. The previous period is the same number of "
            "months just before, over the same days of the month (a partial first or last "
            "month is compared with the same part of its month)."
        ),
    ]
    return _result("daily-summary", SUMMARY_TITLE, f, tables, notes)


def _summary_cells(labels: list[str], found: list[Figures]) -> dict[str, Any]:
    now, previous, last_year = found
    return {
        "period": labels[0],
        "count": now.net_count,
        "net": now.net_tender_minor,
        "kwh": now.net_kwh,
        "previous_period": labels[1],
        "previous_net": previous.net_tender_minor,
        "previous_change": change_percent(now.net_tender_minor, previous.net_tender_minor),
        "last_year_period": labels[2],
        "last_year_net": last_year.net_tender_minor,
        "last_year_change": change_percent(now.net_tender_minor, last_year.net_tender_minor),
    }


# --- the registry ------------------------------------------------------------------------------

for _spec in (
    ReportSpec(
        slug="sales",
        title=SALES_TITLE,
        summary=gettext_lazy(
            "Sales per level of the tree, vending point, operator, channel, partner, tariff, "
            "day or month: tender, energy, kWh, tax, fixed charges, debt, reversals and net."
        ),
        filterset=ReportFilterSet,
        build=build_sales,
        may_read=can_read_reports,
    ),
    ReportSpec(
        slug="free-issues",
        title=FREE_TITLE,
        summary=gettext_lazy("FBE tokens and free issues: count, kWh, value and taxes."),
        filterset=ReportFilterSet,
        build=build_free_issues,
        may_read=can_read_reports,
    ),
    ReportSpec(
        slug="purchases-by-sgc-ti",
        title=SGC_TITLE,
        summary=gettext_lazy("Credit purchases per supply group code and tariff index."),
        filterset=UngroupedFilterSet,
        build=build_purchases_by_sgc_ti,
        may_read=can_read_reports,
    ),
    ReportSpec(
        slug="debt-collection",
        title=DEBT_TITLE,
        summary=gettext_lazy(
            "Debt recovered in the period, outstanding now, accounts with debt and its ageing."
        ),
        filterset=UngroupedFilterSet,
        build=build_debt_collection,
        may_read=can_read_reports,
    ),
    ReportSpec(
        slug="daily-summary",
        title=SUMMARY_TITLE,
        summary=gettext_lazy(
            "Sales per day or month beside the previous period and the same period last year."
        ),
        filterset=ReportFilterSet,
        build=build_daily_summary,
        may_read=can_read_reports,
    ),
):
    register(_spec)
