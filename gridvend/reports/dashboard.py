"""The dashboard of one organisation unit (issue 13, dashboards per level): today's sales beside
the same weekday last week and the last 30 days' trend, sales by channel and the top and bottom
vending points for the month to date, the points with no sale, customers not buying and the debt
collected this month beside last month.

Built as a :class:`ReportResult` (tables and charts) by :func:`build_dashboard`, so the screen and
the PDF show the same figures. Every sales figure is read from the roll-up plus the raw rows
after its watermark (``rollup.read_figures``), never by scanning the sales: three reads of five
queries each (the 30 days per day; the month per channel and point; last month and this one per
day for debt), one for the unit, one for the unit's vending points, one for their labels and one
for the customers not buying (an index probe per customer on ``(customer, business_month)``):
18 queries in all (counted on PostgreSQL with a partly folded roll-up), whatever the
number of sales.

Money is the utility's currency (``settings.CURRENCY``); sales in another currency are left out
and the dashboard says so. A sale's figures fall on its business date, a reversal's on its own
local date, as in every report: the figures are net of reversals.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import django_filters
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.customers.models import Customer, CustomerStatus
from gridvend.identity.models import User
from gridvend.kernel.clock import day_bounds_utc
from gridvend.kernel.money import Money
from gridvend.org import selectors as org_selectors
from gridvend.org.models import Channel, OrgUnit, VendingPoint, VendingPointStatus
from gridvend.reports import rollup
from gridvend.reports.base import (
    REPORTS,
    CellKind,
    ChartKind,
    ChartSpec,
    Column,
    ReportResult,
    ReportRow,
    ReportTable,
    RowRole,
)
from gridvend.reports.catalogue import SALE_KINDS, change_percent, freshness_note
from gridvend.reports.filters import _date_widget, _DateFilter, _IdFilter, invalid, today
from gridvend.reports.permissions import require_report_reader
from gridvend.reports.rollup import Figures, Selection
from gridvend.vending.models import Sale, SaleKind

SLUG = "dashboard"
TITLE = gettext_lazy("Dashboard")
TREND_DAYS = 30
RANKED = 5
# A customer "not buying" has bought nothing for this many days (issue 13's default).
IDLE_DAYS = 60
# Points with no sale listed at most (the count is always whole).
MAX_IDLE_POINTS = 50
# The abnormal-customers report, linked when some part of the system registers it.
ABNORMAL_SLUG = "abnormal-customers"
# Where the customers-not-buying table stands in the result's tables (the screen links the
# abnormal-customers report under it).
CUSTOMERS_TABLE = 3


class DashboardFilterSet(django_filters.FilterSet):
    """The dashboard's query string: which unit (default: the user's own) and as of which day
    (default: today)."""

    unit = _IdFilter(label=gettext_lazy("Organisation unit"))
    day = _DateFilter(label=gettext_lazy("Day"), widget=_date_widget())

    def __init__(self, data: QueryDict | dict[str, Any] | None) -> None:
        super().__init__(data=data if data is not None else {}, queryset=Sale.objects.none())

    def values(self) -> dict[str, Any]:
        """The typed values, or ``InvalidInput`` naming the first bad field."""
        if not self.is_valid():
            field, problems = next(iter(self.form.errors.items()))
            raise invalid(field, " ".join(str(p) for p in problems))
        return dict(self.form.cleaned_data)

    def echo(self) -> dict[str, str]:
        data = self.data or {}
        return {name: str(data.get(name, ""))[:200] for name in self.filters}

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset


def _month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def _previous_month(day: datetime.date) -> tuple[datetime.date, datetime.date, datetime.date]:
    """Last month's first day, the day matching ``day`` in it (clamped to its end) and its end."""
    end = _month_start(day) - datetime.timedelta(days=1)
    start = end.replace(day=1)
    return start, end.replace(day=min(day.day, end.day)), end


def _major(minor: int) -> Decimal:
    return Money(minor, str(settings.CURRENCY)).to_major()


def _read(
    unit: OrgUnit,
    first: datetime.date,
    last: datetime.date,
    dims: tuple[str, ...],
    kinds: tuple[str, ...],
) -> tuple[dict[tuple[Any, ...], Figures], rollup.Freshness]:
    selection = Selection(first, last, unit.path, kinds, (("currency", str(settings.CURRENCY)),))
    return rollup.read_figures(selection, dims)


def _point_label(point: VendingPoint | None) -> str:
    return str(point) if point is not None else _("Back office (no vending point)")


def idle_customers(unit: OrgUnit, day: datetime.date) -> int:
    """Active customers of the unit's subtree, there since before the window, with no credit
    purchase dated in the ``IDLE_DAYS`` days up to ``day``."""
    window_start = day - datetime.timedelta(days=IDLE_DAYS - 1)
    bought = Sale.objects.filter(
        customer_id=OuterRef("pk"),
        kind=SaleKind.CREDIT,
        business_month__gte=f"{window_start.year:04d}-{window_start.month:02d}",
        business_date__gte=window_start,
        business_date__lte=day,
    )
    return (
        Customer.objects.filter(
            org_unit__path__startswith=unit.path,
            status=CustomerStatus.ACTIVE,
            created_at__lt=day_bounds_utc(window_start, settings.TIME_ZONE)[0],
        )
        .exclude(Exists(bought))
        .count()
    )


def abnormal_report(actor: User) -> Any:
    """The abnormal-customers report's spec when it is registered and the actor may read it."""
    spec = REPORTS.get(ABNORMAL_SLUG)
    return spec if spec is not None and spec.may_read(actor) else None


def build_dashboard(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """The dashboard of ``values["unit"]`` (default: the actor's unit; outside the actor's
    subtree NotFound) as of ``values["day"]`` (default: today)."""
    require_report_reader(actor)
    unit_id = values.get("unit")
    unit = org_selectors.get_unit(actor, unit_id or actor.org_unit_id)
    day = values.get("day") or today()
    currency = str(settings.CURRENCY)
    week_ago = day - datetime.timedelta(days=7)
    trend_start = day - datetime.timedelta(days=TREND_DAYS - 1)
    month_start = _month_start(day)
    last_start, last_same_day, last_end = _previous_month(day)

    per_day, fresh = _read(unit, trend_start, day, ("business_date",), SALE_KINDS)
    month, _fresh = _read(unit, month_start, day, ("channel", "vending_point"), SALE_KINDS)
    debt_days, _fresh = _read(unit, last_start, day, ("business_date",), ())

    # --- today against the same weekday last week
    today_fig = per_day.get((day,), Figures())
    before_fig = per_day.get((week_ago,), Figures())
    today_table = ReportTable(
        title=_("Today's sales against the same weekday last week")
        if day == today()
        else _("Sales of %(day)s against the same weekday a week before")
        % {"day": day.isoformat()},
        columns=[
            Column("day", _("Day"), CellKind.DATE),
            Column("count", _("Sales (net count)"), CellKind.INT),
            Column("amount", _("Amount (net)"), CellKind.MONEY),
            Column("kwh", _("Energy (net kWh)"), CellKind.KWH),
            Column("change", _("Amount change (%)"), CellKind.PERCENT),
        ],
        currency=currency,
    )
    for d, fig, change in (
        (day, today_fig, change_percent(today_fig.net_tender_minor, before_fig.net_tender_minor)),
        (week_ago, before_fig, None),
    ):
        today_table.rows.append(
            ReportRow(
                {
                    "day": d,
                    "count": fig.net_count,
                    "amount": fig.net_tender_minor,
                    "kwh": fig.net_kwh,
                    "change": change,
                }
            )
        )

    # --- the 30 days' trend
    days = [trend_start + datetime.timedelta(days=i) for i in range(TREND_DAYS)]
    trend_table = ReportTable(
        title=_("Last %(days)s days") % {"days": TREND_DAYS},
        columns=[
            Column("day", _("Day"), CellKind.DATE),
            Column("count", _("Sales (net count)"), CellKind.INT),
            Column("amount", _("Amount (net)"), CellKind.MONEY),
            Column("kwh", _("Energy (net kWh)"), CellKind.KWH),
        ],
        currency=currency,
    )
    for d in days:
        fig = per_day.get((d,), Figures())
        trend_table.rows.append(
            ReportRow(
                {
                    "day": d,
                    "count": fig.net_count,
                    "amount": fig.net_tender_minor,
                    "kwh": fig.net_kwh,
                }
            )
        )

    # --- the month to date per channel and per point
    per_channel: dict[str, Figures] = {}
    per_point: dict[int | None, Figures] = {}
    for (channel, point_id), fig in month.items():
        per_channel.setdefault(channel, Figures()).add(fig)
        per_point.setdefault(point_id, Figures()).add(fig)
    channel_names = dict(Channel.choices)
    channel_rows = sorted(
        ((str(channel_names.get(k, k)), fig) for k, fig in per_channel.items()),
        key=lambda item: (-item[1].net_tender_minor, item[0]),
    )
    month_total = Figures()
    for fig in per_channel.values():
        month_total.add(fig)
    channel_table = ReportTable(
        title=_("Sales by channel, month to date"),
        columns=[
            Column("channel", _("Channel")),
            Column("count", _("Sales (net count)"), CellKind.INT),
            Column("amount", _("Amount (net)"), CellKind.MONEY),
            Column("share", _("Share (%)"), CellKind.PERCENT),
        ],
        currency=currency,
    )
    for name, fig in channel_rows:
        share = (
            (Decimal(fig.net_tender_minor) * 100 / month_total.net_tender_minor).quantize(
                Decimal("0.1")
            )
            if month_total.net_tender_minor
            else None
        )
        channel_table.rows.append(
            ReportRow(
                {
                    "channel": name,
                    "count": fig.net_count,
                    "amount": fig.net_tender_minor,
                    "share": share,
                }
            )
        )
    channel_table.rows.append(
        ReportRow(
            {
                "channel": _("Total"),
                "count": month_total.net_count,
                "amount": month_total.net_tender_minor,
            },
            RowRole.TOTAL,
        )
    )

    sold = {pk: fig for pk, fig in per_point.items() if fig.sale_count}
    # Only the points that sold this month are read (those moved out of the unit since are
    # still named), not every point of the subtree.
    points = {
        p.pk: p for p in VendingPoint.objects.filter(pk__in=[pk for pk in sold if pk is not None])
    }
    ranked = sorted(
        sold.items(),
        key=lambda item: (-item[1].net_tender_minor, _point_label(points.get(item[0] or 0))),
    )
    top = ranked[:RANKED]
    # The bottom list never repeats the top one: with few points that sold, it holds only
    # those the top list left out.
    bottom = list(reversed(ranked[max(RANKED, len(ranked) - RANKED) :]))

    def point_table(title: str, rows: list[tuple[int | None, Figures]]) -> ReportTable:
        table = ReportTable(
            title=title,
            columns=[
                Column("point", _("Vending point")),
                Column("count", _("Sales (net count)"), CellKind.INT),
                Column("amount", _("Amount (net)"), CellKind.MONEY),
            ],
            currency=currency,
        )
        for pk, fig in rows:
            table.rows.append(
                ReportRow(
                    {
                        "point": _point_label(points.get(pk) if pk is not None else None),
                        "count": fig.net_count,
                        "amount": fig.net_tender_minor,
                    }
                )
            )
        return table

    top_table = point_table(_("Top %(n)s vending points, month to date") % {"n": RANKED}, top)
    bottom_table = point_table(
        _("Bottom %(n)s vending points, month to date") % {"n": RANKED}, bottom
    )
    idle_points = sorted(
        (
            p
            for pk, p in points.items()
            if pk not in sold
            and p.status == VendingPointStatus.ACTIVE
            and p.org_unit.path.startswith(unit.path)
        ),
        key=lambda p: (p.name, p.pk),
    )
    idle_table = ReportTable(
        title=_("Active vending points with no sale this month (%(count)s)")
        % {"count": len(idle_points)},
        columns=[Column("point", _("Vending point")), Column("unit", _("Organisation unit"))],
    )
    for p in idle_points[:MAX_IDLE_POINTS]:
        idle_table.rows.append(ReportRow({"point": str(p), "unit": p.org_unit.name}))
    if len(idle_points) > MAX_IDLE_POINTS:
        idle_table.truncated_note = _("The first %(shown)s of %(count)s are listed.") % {
            "shown": MAX_IDLE_POINTS,
            "count": len(idle_points),
        }

    # --- customers not buying and debt collected
    idle = idle_customers(unit, day)
    customers_table = ReportTable(
        title=_("Customers not buying"),
        columns=[Column("measure", _("Measure")), Column("value", _("Value"), CellKind.INT)],
    )
    customers_table.rows.append(
        ReportRow(
            {
                "measure": _("Active customers with no purchase in the last %(days)s days")
                % {"days": IDLE_DAYS},
                "value": idle,
            }
        )
    )

    def debt_between(first: datetime.date, last: datetime.date) -> int:
        return sum(
            fig.net_debt_recovered_minor
            for (d,), fig in debt_days.items()
            if d is not None and first <= d <= last
        )

    debt_now = debt_between(month_start, day)
    debt_same = debt_between(last_start, last_same_day)
    debt_last = debt_between(last_start, last_end)
    debt_table = ReportTable(
        title=_("Debt collected"),
        columns=[
            Column("period", _("Period")),
            Column("from", _("From"), CellKind.DATE),
            Column("to", _("To"), CellKind.DATE),
            Column("amount", _("Debt recovered (net)"), CellKind.MONEY),
        ],
        currency=currency,
    )
    for label, first, last, amount in (
        (_("This month to date"), month_start, day, debt_now),
        (_("Last month to the same day"), last_start, last_same_day, debt_same),
        (_("All last month"), last_start, last_end, debt_last),
    ):
        debt_table.rows.append(
            ReportRow({"period": label, "from": first, "to": last, "amount": amount})
        )

    charts = [
        ChartSpec(
            ChartKind.LINE,
            _("Net sales per day, last %(days)s days, in %(currency)s")
            % {"days": TREND_DAYS, "currency": currency},
            # Every fifth day named (and the last): thirty dates would overlap.
            [
                d.strftime("%m-%d") if (TREND_DAYS - 1 - i) % 5 == 0 else ""
                for i, d in enumerate(days)
            ],
            [
                (
                    _("Net amount"),
                    [_major(per_day.get((d,), Figures()).net_tender_minor) for d in days],
                )
            ],
        ),
        ChartSpec(
            ChartKind.SHARE,
            _("Sales by channel, month to date, in %(currency)s") % {"currency": currency},
            [name for name, _fig in channel_rows],
            [(_("Net amount"), [_major(fig.net_tender_minor) for _name, fig in channel_rows])],
        ),
        ChartSpec(
            ChartKind.BAR,
            _("Top %(n)s vending points, month to date, in %(currency)s")
            % {"n": RANKED, "currency": currency},
            [_point_label(points.get(pk) if pk is not None else None) for pk, _f in top],
            [(_("Net amount"), [_major(fig.net_tender_minor) for _pk, fig in top])],
        ),
        ChartSpec(
            ChartKind.BAR,
            _("Bottom %(n)s vending points, month to date, in %(currency)s")
            % {"n": RANKED, "currency": currency},
            [_point_label(points.get(pk) if pk is not None else None) for pk, _f in bottom],
            [(_("Net amount"), [_major(fig.net_tender_minor) for _pk, fig in bottom])],
        ),
    ]
    notes: list[Any] = [
        freshness_note(fresh),
        _(
            "Sales are credit purchases and debt payments, net of the reversals made on each "
            "day; debt recovered counts every kind of sale. Amounts in %(currency)s only."
        )
        % {"currency": currency},
    ]
    return ReportResult(
        slug=SLUG,
        title=TITLE,
        generated_at=timezone.now(),
        generated_by=actor,
        filters=[
            (gettext_lazy("Day"), day.isoformat()),
            (gettext_lazy("Time zone"), str(settings.TIME_ZONE)),
            (gettext_lazy("Organisation unit"), f"{unit.name} ({unit.code})"),
        ],
        # The order CUSTOMERS_TABLE names; the long 30-day table last.
        tables=[
            today_table,
            debt_table,
            channel_table,
            customers_table,
            top_table,
            bottom_table,
            idle_table,
            trend_table,
        ],
        notes=notes,
        charts=charts,
    )
