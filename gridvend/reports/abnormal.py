"""The abnormal-customers report of revenue protection (issue 13): customers and meters whose
buying or fault record looks wrong, one row per finding, each naming the rule that fired.

The rules, all as of the period's last day, in the unit the filters name:

* **No purchase**: an active customer, older than ``days`` (default 60), who bought no credit
  in the last ``days`` days.
* **Sudden drop**: credit bought in the last 30 days below ``DROP_FRACTION`` of the customer's
  own average per 30 days over the 90 days before them.
* **Far above the norm**: kWh bought in the period over ``NORM_MULTIPLE`` times the median of
  the customers of the same tariff, in the whole utility, who bought in it (one norm per tariff,
  whichever unit reads it).
* **Repeated faults**: a meter with ``FAULT_REPEATS`` or more fault reports in the period.
* **Used more than bought** and **bought far more than used** (where readings exist): for a
  meter with two or more accepted actual readings in the period, the kWh its register counted
  from the first to the last of them (the sum of each reading's consumption, so a register that
  rolled over is counted through zero) against the kWh of its credit sales, not reversed, made
  between those two readings. Used over ``USED_TOLERANCE`` (10 %) above bought plus
  ``USED_ALLOWANCE_KWH`` (5 kWh) is energy used without paying (a bypass or tamper); bought
  over ``BOUGHT_MULTIPLE`` (3) times used plus the same allowance is credit not loaded into the
  meter, or resold. Estimated, excepted and replaced readings never count; a meter without two
  readings in the period is never flagged by these rules.

Only the period, the unit, the tariff and ``days`` apply (``AbnormalFilterSet`` declares no
other filter): the rules are about customers and meters, not about where they bought.

Where the figures come from. The three sales-based rules are read from the nightly findings
snapshot (``gridvend.reports.abnormal_snapshot``: the whole tree's findings as of the close of a
business date) when it answers the filters exactly (``answer_for``): the snapshot is the period's
last day's, or the period ends today and the snapshot is yesterday's ("Figures as of close of
business ..."); *no purchase* needs ``days`` >= SNAPSHOT_MIN_DAYS, *far above the norm* a period
as long as the snapshot's (NORM_DAYS). The unit (a path prefix), tariff and ``days`` narrow its
rows; its orders are the live rules' orders, so both give the same rows. A sale or reversal made
after the snapshot was computed shows from the next one. Anything else reads the sales, as below,
and the notes say which rules came from where.

What the live rules cost (PostgreSQL): *no purchase* is an anti-join of the subtree's customers
with the sales of the last ``days`` days (created_at index, or per customer on the (customer,
business_month) index); *sudden drop* aggregates the credit sales of the last 120 days of the
subtree, *far above the norm* those of the period (the whole tree's, for the medians), grouped by
customer in the database. At 10,000,000 sales and 500,000 customers that was 21.5 s for 30 days
(8.1 s, 13.1 s and 4.4 s), hence the snapshot. *Repeated faults* groups the period's fault
reports by meter and the readings rules read the period's accepted readings of the subtree (the
meter, status and time index) and the credit sales of the meters they found between their
readings: both stay live (small tables). Each rule's list stops at DETAIL_LIMIT rows.
"""

from __future__ import annotations

import dataclasses
import datetime
import statistics
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import django_filters
from django.conf import settings
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.customers.models import Customer, CustomerStatus
from gridvend.identity.models import User
from gridvend.kernel.clock import business_date, day_bounds_utc
from gridvend.kernel.money import Money
from gridvend.meters.models import FaultReport, Meter
from gridvend.readings.models import MeterReading, ReadingSource, ReadingStatus
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
from gridvend.reports.filters import ReportFilters, ReportFilterSet, _IdField, today
from gridvend.reports.models import AbnormalFinding, AbnormalRule, AbnormalSnapshot
from gridvend.reports.permissions import can_read_reports
from gridvend.vending.models import Sale, SaleKind, SaleStatus

DEFAULT_DAYS = 60
MAX_DAYS = 3660
RECENT_DAYS = 30
HISTORY_DAYS = 90
DROP_FRACTION = Decimal("0.5")
NORM_MULTIPLE = 3
FAULT_REPEATS = 3
# Readings against sales: used more than bought beyond 10 % and 5 kWh (a meter's own register
# and a sale's rounding differ by that much), or bought over three times what was used.
USED_TOLERANCE = Decimal("0.10")
USED_ALLOWANCE_KWH = Decimal(5)
BOUGHT_MULTIPLE = 3
# The findings snapshot (``gridvend.reports.abnormal_snapshot``) holds every customer silent for
# at least SNAPSHOT_MIN_DAYS, so it answers ``days`` from there up; and "far above the norm" over
# the NORM_DAYS days ending at its date.
SNAPSHOT_MIN_DAYS = 30
NORM_DAYS = 30
# A builder value no query string carries (the filter set has no such field): read every rule
# from the sales, never from the snapshot (the checks and the benchmark's live timing).
LIVE = "abnormal_live"
TITLE = gettext_lazy("Abnormal customers")


class _DaysField(_IdField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_DAYS, **kwargs)


class _DaysFilter(django_filters.Filter):
    field_class = _DaysField


class AbnormalFilterSet(ReportFilterSet):
    """The period, the unit and the tariff (the only report filters the rules read), and
    ``days``: how long without a purchase is abnormal. The others are declared away, so the
    screen, its files and a subscription never offer a filter that would change nothing."""

    point = None  # type: ignore[assignment]
    operator = None  # type: ignore[assignment]
    channel = None  # type: ignore[assignment]
    partner = None  # type: ignore[assignment]
    sgc = None  # type: ignore[assignment]
    ti = None  # type: ignore[assignment]
    group = None  # type: ignore[assignment]
    days = _DaysFilter(label=gettext_lazy("Days without a purchase"))


def _bought(f: ReportFilters) -> Q:
    """Completed credit sales of the unit's customers (of the chosen tariff)."""
    q = Q(
        kind=SaleKind.CREDIT,
        status=SaleStatus.COMPLETED,
        customer__org_unit__path__startswith=f.unit.path,
    )
    if f.tariff is not None:
        q &= Q(customer__tariff_id=f.tariff.pk)
    return q


def _customers(f: ReportFilters) -> Q:
    q = Q(org_unit__path__startswith=f.unit.path)
    if f.tariff is not None:
        q &= Q(tariff_id=f.tariff.pk)
    return q


def not_buying(
    f: ReportFilters, days: int
) -> tuple[list[tuple[int, datetime.datetime | None]], bool]:
    """(customer id, last purchase) of the active customers older than ``days`` with no credit
    bought in the ``days`` days up to the period's end, the longest silent first."""
    end = f.end_utc
    since = day_bounds_utc(f.date_to - datetime.timedelta(days=days - 1), settings.TIME_ZONE)[0]
    first_day = business_date(since, settings.TIME_ZONE)
    first_month = f"{first_day.year:04d}-{first_day.month:02d}"
    recent = Sale.objects.filter(
        customer_id=OuterRef("pk"),
        kind=SaleKind.CREDIT,
        status=SaleStatus.COMPLETED,
        business_month__gte=first_month,  # lets the (customer, business_month) index serve
        created_at__gte=since,
        created_at__lt=end,
    )
    last = (
        Sale.objects.filter(
            customer_id=OuterRef("pk"),
            kind=SaleKind.CREDIT,
            status=SaleStatus.COMPLETED,
            created_at__lt=since,
        )
        .order_by("-business_month", "-created_at")
        .values("created_at")[:1]
    )
    found = list(
        Customer.objects.filter(_customers(f), status=CustomerStatus.ACTIVE, created_at__lt=since)
        .filter(~Exists(recent))
        .annotate(last_purchase=Subquery(last))
        .order_by("last_purchase", "id")
        .values_list("pk", "last_purchase")[: DETAIL_LIMIT + 1]
    )
    return found[:DETAIL_LIMIT], len(found) > DETAIL_LIMIT


def dropping(f: ReportFilters) -> tuple[list[tuple[int, int, int]], bool]:
    """(customer id, bought in the last 30 days, bought in the 90 before) for each customer
    whose last 30 days fell below DROP_FRACTION of their 30-day average before, biggest fall
    first. Amounts are tender in minor units."""
    recent_from = day_bounds_utc(
        f.date_to - datetime.timedelta(days=RECENT_DAYS - 1), settings.TIME_ZONE
    )[0]
    history_from = day_bounds_utc(
        f.date_to - datetime.timedelta(days=RECENT_DAYS + HISTORY_DAYS - 1), settings.TIME_ZONE
    )[0]
    rows = (
        Sale.objects.filter(_bought(f), created_at__gte=history_from, created_at__lt=f.end_utc)
        .order_by()
        .values("customer_id")
        .annotate(
            recent=Sum("tender_minor", filter=Q(created_at__gte=recent_from), default=0),
            before=Sum("tender_minor", filter=Q(created_at__lt=recent_from), default=0),
        )
        .filter(before__gt=0)
    )
    found = []
    for row in rows:
        recent, before = int(row["recent"]), int(row["before"])
        # recent < fraction x (before / 3 periods of 30 days), without rounding.
        if Decimal(recent) * (HISTORY_DAYS // RECENT_DAYS) < DROP_FRACTION * before:
            found.append((row["customer_id"], recent, before))
    found.sort(key=lambda item: (item[1] * 3 - item[2], item[0]))
    return found[:DETAIL_LIMIT], len(found) > DETAIL_LIMIT


def above_norm(
    f: ReportFilters,
) -> tuple[list[tuple[int, Decimal, Decimal]], bool]:
    """(customer id, kWh bought in the period, their tariff's median) for each customer of the
    unit who bought over NORM_MULTIPLE times the median of their tariff's buying customers. The
    norm is the whole utility's (every unit's buyers of the tariff), so a small unit's customers
    are measured against the same figure as everyone's, and the snapshot answers any unit."""
    q = Q(
        kind=SaleKind.CREDIT,
        status=SaleStatus.COMPLETED,
        customer__isnull=False,
        created_at__gte=f.start_utc,
        created_at__lt=f.end_utc,
    )
    if f.tariff is not None:
        q &= Q(customer__tariff_id=f.tariff.pk)
    rows = (
        Sale.objects.filter(q)
        .order_by()
        .values("customer_id", "customer__tariff_id", "customer__org_unit__path")
        .annotate(kwh=Sum("kwh"))
    )
    per_tariff: dict[int, list[tuple[int, Decimal, bool]]] = {}
    for row in rows:
        per_tariff.setdefault(row["customer__tariff_id"], []).append(
            (
                row["customer_id"],
                Decimal(row["kwh"] or 0),
                row["customer__org_unit__path"].startswith(f.unit.path),
            )
        )
    found = []
    for buyers in per_tariff.values():
        median = Decimal(statistics.median(kwh for _c, kwh, _mine in buyers))
        for customer_id, kwh, mine in buyers:
            if mine and median > 0 and kwh > NORM_MULTIPLE * median:
                found.append((customer_id, kwh, median))
    found.sort(key=lambda item: (-item[1] / item[2], item[0]))
    return found[:DETAIL_LIMIT], len(found) > DETAIL_LIMIT


def repeated_faults(f: ReportFilters) -> tuple[list[tuple[int, int]], bool]:
    """(meter id, fault reports) of the meters with FAULT_REPEATS or more in the period."""
    rows = list(
        FaultReport.objects.filter(
            meter__org_unit__path__startswith=f.unit.path,
            registered_at__gte=f.start_utc,
            registered_at__lt=f.end_utc,
        )
        .order_by()
        .values("meter_id")
        .annotate(n=Count("id"))
        .filter(n__gte=FAULT_REPEATS)
        .order_by("-n", "meter_id")[: DETAIL_LIMIT + 1]
    )
    found = [(row["meter_id"], int(row["n"])) for row in rows]
    return found[:DETAIL_LIMIT], len(found) > DETAIL_LIMIT


USED_MORE, BOUGHT_MORE = "used_more", "bought_more"


def readings_against_sales(
    f: ReportFilters,
) -> tuple[list[tuple[int, str, Decimal, Decimal]], bool]:
    """(meter id, rule, kWh used, kWh bought) for each meter whose accepted actual readings in
    the period disagree with the credit it bought between the first and the last of them."""
    q = Q(
        meter__org_unit__path__startswith=f.unit.path,
        status=ReadingStatus.VALID,
        read_at__gte=f.start_utc,
        read_at__lt=f.end_utc,
    ) & ~Q(source=ReadingSource.ESTIMATE)
    if f.tariff is not None:
        q &= Q(meter__customer__tariff_id=f.tariff.pk)
    spans: dict[int, tuple[datetime.datetime, datetime.datetime, Decimal]] = {}
    rows = (
        MeterReading.objects.filter(q)
        .order_by("meter_id", "read_at", "id")
        .values_list("meter_id", "read_at", "consumption_kwh")
    )
    for meter_id, read_at, used in rows:
        span = spans.get(meter_id)
        if span is None:
            spans[meter_id] = (read_at, read_at, Decimal(0))  # the first: nothing used yet
        else:
            spans[meter_id] = (span[0], read_at, span[2] + (used or Decimal(0)))
    measured = {m: span for m, span in spans.items() if span[1] > span[0]}
    bought = _bought_between(measured)
    found = []
    for meter_id, (_first, _last, used) in measured.items():
        sold = bought.get(meter_id, Decimal(0))
        if used > sold * (1 + USED_TOLERANCE) + USED_ALLOWANCE_KWH:
            found.append((meter_id, USED_MORE, used, sold))
        elif sold > BOUGHT_MULTIPLE * used + USED_ALLOWANCE_KWH:
            found.append((meter_id, BOUGHT_MORE, used, sold))
    found.sort(key=lambda item: (-abs(item[2] - item[3]), item[0]))
    return found[:DETAIL_LIMIT], len(found) > DETAIL_LIMIT


# Meters whose sales one query reads (a bound on the query's parameters on both databases).
METER_CHUNK = 500


def _bought_between(
    spans: Mapping[int, tuple[datetime.datetime, datetime.datetime, Decimal]],
) -> dict[int, Decimal]:
    """kWh of each meter's completed credit sales from its first reading up to its last: one
    query per METER_CHUNK meters, each meter's own window applied to the rows it returns."""
    bought: dict[int, Decimal] = {}
    ids = sorted(spans)
    for start in range(0, len(ids), METER_CHUNK):
        chunk = ids[start : start + METER_CHUNK]
        rows = Sale.objects.filter(
            meter_id__in=chunk,
            kind=SaleKind.CREDIT,
            status=SaleStatus.COMPLETED,
            created_at__gte=min(spans[m][0] for m in chunk),
            created_at__lt=max(spans[m][1] for m in chunk),
        ).values_list("meter_id", "created_at", "kwh")
        for meter_id, created_at, kwh in rows.iterator(chunk_size=2000):
            first, last, _used = spans[meter_id]
            if first <= created_at < last:
                bought[meter_id] = bought.get(meter_id, Decimal(0)) + Decimal(kwh)
    return bought


def last_purchases(customer_ids: Sequence[int], f: ReportFilters) -> dict[int, datetime.datetime]:
    """Each customer's last credit purchase before the period's end."""
    rows = (
        Sale.objects.filter(
            customer_id__in=list(customer_ids),
            kind=SaleKind.CREDIT,
            status=SaleStatus.COMPLETED,
            created_at__lt=f.end_utc,
        )
        .order_by()
        .values("customer_id")
        .annotate(last=Max("created_at"))
    )
    return {row["customer_id"]: row["last"] for row in rows}


# --- the findings snapshot (``gridvend.reports.abnormal_snapshot``) ----------------------------


def snapshot_for(f: ReportFilters) -> AbnormalSnapshot | None:
    """The snapshot that answers a period ending on ``f.date_to``: the one as of that date, or,
    for a period ending today (not closed yet), yesterday's."""
    found = AbnormalSnapshot.objects.filter(as_of=f.date_to).first()
    if found is None and f.date_to == today():
        found = AbnormalSnapshot.objects.filter(
            as_of=f.date_to - datetime.timedelta(days=1)
        ).first()
    return found


def _findings(snapshot: AbnormalSnapshot, rule: str, f: ReportFilters) -> QuerySet[AbnormalFinding]:
    found = AbnormalFinding.objects.filter(
        snapshot=snapshot, rule=rule, unit_path__startswith=f.unit.path
    )
    if f.tariff is not None:
        found = found.filter(tariff_id=f.tariff.pk)
    return found


def not_buying_from(
    snapshot: AbnormalSnapshot, f: ReportFilters, days: int
) -> tuple[list[tuple[int, datetime.datetime | None]], bool]:
    """``not_buying`` read from a snapshot (``days`` at least SNAPSHOT_MIN_DAYS): its silent
    customers narrowed to those silent, and older than, ``days`` days before its date."""
    first_day = snapshot.as_of - datetime.timedelta(days=days - 1)
    since, _first_day_end = day_bounds_utc(first_day, settings.TIME_ZONE)
    found = list(
        _findings(snapshot, AbnormalRule.NO_PURCHASE, f)
        .filter(customer_since__lt=since)
        .filter(Q(last_purchase__isnull=True) | Q(last_purchase__lt=since))
        .order_by("last_purchase", "customer_id")
        .values_list("customer_id", "last_purchase")[: DETAIL_LIMIT + 1]
    )
    return found[:DETAIL_LIMIT], len(found) > DETAIL_LIMIT


def dropping_from(
    snapshot: AbnormalSnapshot, f: ReportFilters
) -> tuple[list[tuple[int, int, int, datetime.datetime | None]], bool]:
    """``dropping`` read from a snapshot, with each customer's last purchase."""
    found = list(
        _findings(snapshot, AbnormalRule.SUDDEN_DROP, f)
        .order_by("drop_order", "customer_id")
        .values_list("customer_id", "recent_minor", "before_minor", "last_purchase")[
            : DETAIL_LIMIT + 1
        ]
    )
    rows = [(c, int(r), int(b), last) for c, r, b, last in found]
    return rows[:DETAIL_LIMIT], len(rows) > DETAIL_LIMIT


def above_norm_from(
    snapshot: AbnormalSnapshot, f: ReportFilters
) -> tuple[list[tuple[int, Decimal, Decimal]], bool]:
    """``above_norm`` read from a snapshot (its period: the NORM_DAYS days to its date)."""
    found = list(
        _findings(snapshot, AbnormalRule.ABOVE_NORM, f)
        .annotate(
            ratio=ExpressionWrapper(
                F("kwh") / F("median_kwh"), output_field=DecimalField(max_digits=40)
            )
        )
        .order_by("-ratio", "customer_id")
        .values_list("customer_id", "kwh", "median_kwh")[: DETAIL_LIMIT + 1]
    )
    return found[:DETAIL_LIMIT], len(found) > DETAIL_LIMIT


@dataclasses.dataclass(frozen=True)
class Answer:
    """Which sales-based rules a snapshot answered (the others read the sales)."""

    snapshot: AbnormalSnapshot | None
    silent: bool = False
    drops: bool = False
    heavy: bool = False


def answer_for(f: ReportFilters, days: int, values: Mapping[str, Any]) -> Answer:
    """The snapshot answers a rule only when it gives exactly what the live rule would for the
    filters: its date is the period's last day (or yesterday, for a period ending today), and
    for *no purchase* ``days`` >= SNAPSHOT_MIN_DAYS, for *far above the norm* a period as long
    as the snapshot's. ``values[LIVE]`` reads every rule from the sales."""
    if values.get(LIVE):
        return Answer(None)
    snapshot = snapshot_for(f)
    if snapshot is None:
        return Answer(None)
    return Answer(
        snapshot,
        silent=days >= SNAPSHOT_MIN_DAYS,
        drops=True,
        heavy=(f.date_to - f.date_from) == (snapshot.as_of - snapshot.norm_from),
    )


def _customer_text(customer: Customer | None) -> str:
    return f"{customer.name} ({customer.account_number})" if customer is not None else ""


def build_abnormal_customers(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """One row per finding of the six rules, each naming its rule; the sales-based rules read
    from the findings snapshot where it answers the filters exactly (``answer_for``)."""
    f = _prepare(actor, values)
    days = int(values.get("days") or DEFAULT_DAYS)
    answer = answer_for(f, days, values)
    snapshot = answer.snapshot
    if snapshot is not None and answer.silent:
        silent, cut_silent = not_buying_from(snapshot, f, days)
    else:
        silent, cut_silent = not_buying(f, days)
    drops: list[tuple[int, int, int, datetime.datetime | None]]
    if snapshot is not None and answer.drops:
        drops, cut_drops = dropping_from(snapshot, f)
    else:
        live_drops, cut_drops = dropping(f)
        last_bought = last_purchases([c for c, *_r in live_drops], f)
        drops = [(c, r, b, last_bought.get(c)) for c, r, b in live_drops]
    if snapshot is not None and answer.heavy:
        heavy, cut_heavy = above_norm_from(snapshot, f)
    else:
        heavy, cut_heavy = above_norm(f)
    faults, cut_faults = repeated_faults(f)
    mismatched, cut_mismatched = readings_against_sales(f)
    wanted = {c for c, _l in silent} | {c for c, *_r in drops} | {c for c, *_r in heavy}
    # Names and numbers only (up to three thousand customers): whole Customer rows would cost
    # more than the snapshot's queries.
    customers = {
        pk: f"{name} ({account})"
        for pk, name, account in Customer.objects.filter(pk__in=wanted).values_list(
            "pk", "name", "account_number"
        )
    }
    meters_of: dict[int, list[str]] = {}
    for number, customer_id in Meter.objects.filter(customer_id__in=wanted).values_list(
        "number", "customer_id"
    ):
        meters_of.setdefault(customer_id, []).append(number)
    fault_meters = {
        m.pk: m
        for m in Meter.objects.filter(
            pk__in=[m for m, _n in faults] + [m for m, *_r in mismatched]
        ).select_related("customer")
    }
    rows: list[ReportRow] = []

    def add(rule: str, customer: str, meter: str, detail: str, **more: Any) -> None:
        rows.append(
            ReportRow(
                {
                    "rule": rule,
                    "customer": customer,
                    "meter": meter,
                    "detail": detail,
                    "count": 1,
                }
                | more
            )
        )

    def meters(customer_id: int) -> str:
        return ", ".join(sorted(meters_of.get(customer_id, [])))

    # Each sentence translated once, not once a row.
    rule_name = _("No purchase")
    detail = _("No credit bought in the last %(days)s days.") % {"days": days}
    for customer_id, last in silent:
        add(
            rule_name,
            customers.get(customer_id, ""),
            meters(customer_id),
            detail,
            last_purchase=last,
        )
    rule_name = _("Sudden drop")
    template = _("Bought %(recent)s in the last 30 days against %(before)s in the 90 days before.")
    for customer_id, recent, before, last in drops:
        add(
            rule_name,
            customers.get(customer_id, ""),
            meters(customer_id),
            template % {"recent": _major(recent), "before": _major(before)},
            last_purchase=last,
        )
    rule_name = _("Far above the norm")
    template = _("Bought %(kwh)s kWh in the period; the median of the tariff is %(median)s kWh.")
    for customer_id, kwh, median in heavy:
        add(
            rule_name,
            customers.get(customer_id, ""),
            meters(customer_id),
            template % {"kwh": _kwh_text(kwh), "median": _kwh_text(median)},
        )
    for meter_id, reports in faults:
        meter = fault_meters[meter_id]
        add(
            _("Repeated faults"),
            _customer_text(meter.customer),
            meter.number,
            _("%(count)s fault reports in the period.") % {"count": reports},
        )
    for meter_id, rule, used, bought in mismatched:
        meter = fault_meters[meter_id]
        if rule == USED_MORE:
            name = _("Used more than bought")
            detail = _(
                "The register counted %(used)s kWh between its first and last readings of the "
                "period; %(bought)s kWh of credit was bought between them."
            )
        else:
            name = _("Bought far more than used")
            detail = _(
                "%(bought)s kWh of credit was bought between the first and last readings of the "
                "period; the register counted %(used)s kWh."
            )
        add(
            name,
            _customer_text(meter.customer),
            meter.number,
            detail % {"used": f"{used:f}", "bought": f"{bought:f}"},
            used_kwh=used,
            bought_kwh=bought,
        )
    rows.append(ReportRow({"rule": _("Total"), "count": len(rows)}, RowRole.TOTAL))
    cut = cut_silent or cut_drops or cut_heavy or cut_faults or cut_mismatched
    table = ReportTable(
        title=TITLE,
        columns=[
            Column("rule", _("Rule")),
            Column("customer", _("Customer")),
            Column("meter", _("Meter")),
            Column("last_purchase", _("Last purchase"), CellKind.DATETIME),
            Column("detail", _("Detail")),
            Column("used_kwh", _("kWh used (readings)"), CellKind.KWH),
            Column("bought_kwh", _("kWh bought"), CellKind.KWH),
            Column("count", _("Count"), CellKind.INT),
        ],
        rows=rows,
        truncated_note=truncation_note(DETAIL_LIMIT) if cut else "",
    )
    notes = [
        _(
            "As of the period's last day: no credit bought in the last %(days)s days (a "
            "customer younger than that is left out); a sudden drop is the last 30 days' credit "
            "below %(fraction)s of the customer's own average per 30 days over the 90 days "
            "before; far above the norm is over %(multiple)s times the median kWh of the "
            "customers of the same tariff in the whole utility who bought in the period; "
            "repeated faults are "
            "%(faults)s or more fault reports on a meter in the period."
        )
        % {
            "days": days,
            "fraction": f"{DROP_FRACTION:.0%}",
            "multiple": NORM_MULTIPLE,
            "faults": FAULT_REPEATS,
        },
        _(
            "Where a meter has two or more accepted readings in the period, the kWh its "
            "register counted from the first to the last is compared with the credit bought "
            "between them (sales not reversed): used more than %(tolerance)s above bought plus "
            "%(allowance)s kWh, or bought over %(bought)s times used plus %(allowance)s kWh."
        )
        % {
            "tolerance": f"{USED_TOLERANCE:.0%}",
            "allowance": USED_ALLOWANCE_KWH,
            "bought": BOUGHT_MULTIPLE,
        },
        _(
            "Only the period, unit and tariff filters apply: the rules are about customers and "
            "meters, not about where they bought."
        ),
    ]
    notes += _answer_notes(answer)
    result = _result("abnormal-customers", TITLE, f, [table], notes)
    # The rows are one per finding, never grouped: no "Group by" line on the printed filters.
    return dataclasses.replace(result, filters=f.describe(grouped=False))


def _answer_notes(answer: Answer) -> list[str]:
    """Which rules the snapshot answered (and as of when), which the sales."""
    names = [
        (answer.silent, _("No purchase")),
        (answer.drops, _("Sudden drop")),
        (answer.heavy, _("Far above the norm")),
    ]
    snapshot = answer.snapshot
    from_snapshot = [name for used, name in names if used and snapshot is not None]
    live = [name for used, name in names if not (used and snapshot is not None)]
    live += [_("Repeated faults"), _("Used more than bought"), _("Bought far more than used")]
    notes = []
    if snapshot is not None and from_snapshot:
        computed = timezone.localtime(snapshot.computed_at, ZoneInfo(str(settings.TIME_ZONE)))
        notes.append(
            _(
                "Figures as of close of business %(date)s, computed %(time)s (the findings "
                "snapshot; a sale or reversal made since is counted from the next one): "
                "%(rules)s."
            )
            % {
                "date": snapshot.as_of.isoformat(),
                "time": computed.strftime("%Y-%m-%d %H:%M"),
                "rules": ", ".join(from_snapshot),
            }
        )
    notes.append(_("Read from the sales now: %(rules)s.") % {"rules": ", ".join(live)})
    return notes


def _kwh_text(kwh: Decimal) -> str:
    """kWh without trailing zeros: the live median (Python's) and the snapshot's (the
    database's, stored to four places) print alike."""
    return f"{Decimal(kwh).normalize():f}"


def _major(minor: int) -> str:
    return f"{Money(minor, str(settings.CURRENCY)).to_major():,}"


register(
    ReportSpec(
        slug="abnormal-customers",
        title=TITLE,
        summary=gettext_lazy(
            "Customers not buying, buying much less than before or far above their tariff's "
            "norm, meters with repeated faults, and meters whose readings disagree with the "
            "energy sold to them; each row names its rule."
        ),
        filterset=AbnormalFilterSet,
        build=build_abnormal_customers,
        may_read=can_read_reports,
    )
)
