"""The sales roll-up: folding sales and reversals into ``SalesDay`` rows past a watermark, and
reading a report's figures from the roll-up plus the raw rows after the watermark.

A job folds (``fold_job``, every GRIDVEND_REPORT_ROLLUP_CRON), never the sale's transaction: the
vend path does not move. The fold locks the watermark row, so two runs (a retried job and the
command) fold one after the other and the second finds nothing left; it folds a contiguous range
of ids whose rows are older than GRIDVEND_REPORT_ROLLUP_LAG_SECONDS, so no sale still being
committed is passed over. A reader takes the roll-up up to the watermark and the sales and
reversals after it from their own tables: its figures are exact and live whatever the job's
delay (``read_figures``). ``verify`` compares the roll-up with the raw rows per day and point.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from gridvend.kernel.clock import day_bounds_utc
from gridvend.reports.models import RollupWatermark, SalesDay
from gridvend.vending.models import Reversal, Sale

WATERMARK = "sales"

# A roll-up dimension (SalesDay field) and where a sale, and a reversal, keep it.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "business_date": ("business_date", "reversal_date"),
    "org_unit": ("meter__org_unit_id", "sale__meter__org_unit_id"),
    "vending_point": ("vending_point_id", "sale__vending_point_id"),
    "operator": ("operator_id", "sale__operator_id"),
    "channel": ("channel", "sale__channel"),
    "partner": (
        "vending_point__partner_point__partner_id",
        "sale__vending_point__partner_point__partner_id",
    ),
    "tariff": ("tariff_version__tariff_id", "sale__tariff_version__tariff_id"),
    "sgc": ("key_sgc", "sale__key_sgc"),
    "ti": ("key_ti", "sale__key_ti"),
    "kind": ("kind", "sale__kind"),
    "currency": ("currency", "sale__currency"),
}
GRAIN = tuple(DIMENSIONS)
# The sale's figures folded into a row (count aside), by SalesDay field and Sale field.
SUMMED = {
    "tender_minor": "tender_minor",
    "energy_minor": "energy_minor",
    "kwh": "kwh",
    "tax_minor": "tax_minor",
    "fixed_charges_minor": "fixed_charges_minor",
    "debt_recovered_minor": "debt_recovered_minor",
    "fbe_kwh": "fbe_kwh",
}


@dataclass
class Figures:
    """A group's figures: the sales made in the period, and the reversals made in it."""

    sale_count: int = 0
    tender_minor: int = 0
    energy_minor: int = 0
    kwh: Decimal = Decimal(0)
    tax_minor: int = 0
    fixed_charges_minor: int = 0
    debt_recovered_minor: int = 0
    fbe_kwh: Decimal = Decimal(0)
    reversed_count: int = 0
    reversed_tender_minor: int = 0
    reversed_energy_minor: int = 0
    reversed_kwh: Decimal = Decimal(0)
    reversed_tax_minor: int = 0
    reversed_fixed_charges_minor: int = 0
    reversed_debt_recovered_minor: int = 0
    reversed_fbe_kwh: Decimal = Decimal(0)

    def add(self, other: Figures | dict[str, Any]) -> None:
        get = other.get if isinstance(other, dict) else lambda n, d=None: getattr(other, n)
        for f in fields(self):
            value = get(f.name, None)
            if value:
                setattr(self, f.name, getattr(self, f.name) + value)

    @property
    def net_count(self) -> int:
        return self.sale_count - self.reversed_count

    @property
    def net_tender_minor(self) -> int:
        return self.tender_minor - self.reversed_tender_minor

    @property
    def net_kwh(self) -> Decimal:
        return self.kwh - self.reversed_kwh

    @property
    def net_energy_minor(self) -> int:
        return self.energy_minor - self.reversed_energy_minor

    @property
    def net_tax_minor(self) -> int:
        return self.tax_minor - self.reversed_tax_minor

    @property
    def net_debt_recovered_minor(self) -> int:
        return self.debt_recovered_minor - self.reversed_debt_recovered_minor

    def is_empty(self) -> bool:
        return not (self.sale_count or self.reversed_count)


MEASURES = tuple(f.name for f in fields(Figures))


def _zone() -> ZoneInfo:
    return ZoneInfo(str(settings.TIME_ZONE))


def _sale_aggregates() -> dict[str, Any]:
    found: dict[str, Any] = {"sale_count": Count("id")}
    found.update({name: Sum(column) for name, column in SUMMED.items()})
    return found


def _reversal_aggregates() -> dict[str, Any]:
    found: dict[str, Any] = {"reversed_count": Count("id")}
    found.update({f"reversed_{name}": Sum(f"sale__{column}") for name, column in SUMMED.items()})
    return found


def _reversals() -> QuerySet[Reversal]:
    return Reversal.objects.annotate(reversal_date=TruncDate("created_at", tzinfo=_zone()))


def sale_facts(
    sales: QuerySet[Sale], dims: Sequence[str]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """``sales`` grouped by the roll-up dimensions ``dims``: (key, figures) pairs."""
    columns = [DIMENSIONS[d][0] for d in dims]
    for row in sales.order_by().values(*columns).annotate(**_sale_aggregates()):
        yield tuple(row[c] for c in columns), row


def reversal_facts(
    reversals: QuerySet[Reversal], dims: Sequence[str]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """``reversals`` grouped by the dimensions of their sales, dated on their own local day."""
    columns = [DIMENSIONS[d][1] for d in dims]
    for row in reversals.order_by().values(*columns).annotate(**_reversal_aggregates()):
        yield tuple(row[c] for c in columns), row


# --- folding -----------------------------------------------------------------------------------


def _grain(key: tuple[Any, ...]) -> str:
    return "|".join("" if v is None else str(v) for v in key)


def _locked_watermark() -> RollupWatermark:
    mark = RollupWatermark.objects.select_for_update().filter(name=WATERMARK).first()
    if mark is not None:
        return mark
    try:
        with transaction.atomic():
            RollupWatermark.objects.create(name=WATERMARK)
    except IntegrityError:
        pass  # another fold made it first: lock theirs
    return RollupWatermark.objects.select_for_update().get(name=WATERMARK)


def watermark() -> RollupWatermark:
    """The watermark as it stands (unlocked): zero before the first fold."""
    return RollupWatermark.objects.filter(name=WATERMARK).first() or RollupWatermark(name=WATERMARK)


def _foldable_ids(
    queryset: QuerySet[Any], after: int, horizon: datetime.datetime, batch: int
) -> list[int]:
    """The next ids after ``after``, in order, up to (not including) the first row younger than
    ``horizon``: a contiguous range, so the watermark never passes a row it did not fold."""
    pending = queryset.filter(id__gt=after)
    young = pending.filter(created_at__gte=horizon).aggregate(first=Min("id"))["first"]
    if young is not None:
        pending = pending.filter(id__lt=young)
    return list(pending.order_by("id").values_list("id", flat=True)[:batch])


# How much earlier than its transaction's start a row's created_at may be (the clock is read
# just before the transaction begins).
OPEN_TRANSACTION_MARGIN = datetime.timedelta(seconds=1)


def _before_open_transactions(horizon: datetime.datetime) -> datetime.datetime:
    """``horizon``, moved back before the start of every transaction open in the database.

    PostgreSQL draws an id when a row is inserted, not when it commits: an open transaction's
    sale is invisible here while a later id is already committed. Folding that later id would
    move the watermark past the open sale for good (it would then be read neither from the
    roll-up nor from the rows after the watermark). Its rows are made after its transaction
    began, so every row made since then is young: the fold stops before the first of them."""
    if connection.vendor != "postgresql":
        return horizon  # SQLite: one writer at a time, nothing committed behind another
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(xact_start) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend' AND xact_start IS NOT NULL"
        )
        row = cursor.fetchone()
    oldest = row[0] if row else None
    if oldest is None:
        return horizon
    return min(
        horizon,
        oldest
        - OPEN_TRANSACTION_MARGIN
        - datetime.timedelta(seconds=settings.REPORT_ROLLUP_LAG_SECONDS),
    )


def _apply(found: dict[str, dict[str, Any]]) -> None:
    """Add the grouped figures to their rows (the caller holds the watermark lock)."""
    grains = list(found)
    for start in range(0, len(grains), 1000):
        chunk = grains[start : start + 1000]
        existing = {row.grain: row for row in SalesDay.objects.filter(grain__in=chunk)}
        changed: list[SalesDay] = []
        created: list[SalesDay] = []
        for grain in chunk:
            figures = found[grain]
            row = existing.get(grain)
            if row is None:
                row = SalesDay(grain=grain, **figures["dims"])
                created.append(row)
            else:
                changed.append(row)
            for name in MEASURES:
                value = figures.get(name)
                if value:
                    setattr(row, name, getattr(row, name) + value)
        if changed:
            SalesDay.objects.bulk_update(changed, list(MEASURES))
        if created:
            SalesDay.objects.bulk_create(created)


def _collect(
    into: dict[str, dict[str, Any]], facts: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]
) -> None:
    for key, figures in facts:
        grain = _grain(key)
        entry = into.setdefault(
            grain,
            {
                "dims": {
                    (f"{d}_id" if d in _FOREIGN_KEYS else d): value
                    for d, value in zip(GRAIN, key, strict=True)
                }
            },
        )
        for name in MEASURES:
            value = figures.get(name)
            if value:
                entry[name] = entry.get(name, 0) + value
        # A key-less sale (before keys were recorded) has an empty SGC, never NULL.
        entry["dims"]["sgc"] = entry["dims"]["sgc"] or ""


_FOREIGN_KEYS = frozenset({"org_unit", "vending_point", "operator", "partner", "tariff"})


@dataclass
class FoldResult:
    sales: int = 0
    reversals: int = 0


def fold(*, now: datetime.datetime | None = None, batch: int | None = None) -> FoldResult:
    """Fold every sale and reversal older than the lag into the roll-up, a batch per
    transaction. Safe to run twice or at once: each batch holds the watermark's lock."""
    horizon = (now or timezone.now()) - datetime.timedelta(
        seconds=settings.REPORT_ROLLUP_LAG_SECONDS
    )
    size = batch or settings.REPORT_ROLLUP_BATCH
    result = FoldResult()
    while True:
        with transaction.atomic():
            mark = _locked_watermark()
            horizon = _before_open_transactions(horizon)
            sale_ids = _foldable_ids(Sale.objects.all(), mark.last_sale_id, horizon, size)
            reversal_ids = _foldable_ids(
                Reversal.objects.all(), mark.last_reversal_id, horizon, size
            )
            if not sale_ids and not reversal_ids:
                return result
            found: dict[str, dict[str, Any]] = {}
            if sale_ids:
                sales = Sale.objects.filter(id__gt=mark.last_sale_id, id__lte=sale_ids[-1])
                _collect(found, sale_facts(sales, GRAIN))
                mark.last_sale_id = sale_ids[-1]
                result.sales += len(sale_ids)
            if reversal_ids:
                reversals = _reversals().filter(
                    id__gt=mark.last_reversal_id, id__lte=reversal_ids[-1]
                )
                _collect(found, reversal_facts(reversals, GRAIN))
                mark.last_reversal_id = reversal_ids[-1]
                result.reversals += len(reversal_ids)
            _apply(found)
            mark.folded_at = timezone.now()
            mark.save(update_fields=["last_sale_id", "last_reversal_id", "folded_at"])


def rebuild(*, now: datetime.datetime | None = None, batch: int | None = None) -> FoldResult:
    """Empty the roll-up and fold everything again (reports stay exact meanwhile: whatever the
    roll-up lacks, they read from the sales)."""
    with transaction.atomic():
        mark = _locked_watermark()
        SalesDay.objects.all().delete()
        mark.last_sale_id = 0
        mark.last_reversal_id = 0
        mark.folded_at = None
        mark.save(update_fields=["last_sale_id", "last_reversal_id", "folded_at"])
    result = fold(now=now, batch=batch)
    if connection.vendor == "postgresql":
        # A refilled table's statistics are those of the empty one until autovacuum comes by:
        # the planner would read the whole roll-up for a month.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {SalesDay._meta.db_table}")
    return result


def fold_job() -> None:
    """The periodic job (``gridvend.reports.rollup``)."""
    fold()


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which rows a report reads: a period of business dates and equality filters on the
    roll-up's dimensions (None: any), below an organisation unit's path."""

    date_from: datetime.date
    date_to: datetime.date
    unit_path: str
    kinds: Collection[str] = ()
    equal: tuple[tuple[str, Any], ...] = ()


def _rollup_rows(selection: Selection) -> QuerySet[SalesDay]:
    qs = SalesDay.objects.filter(
        business_date__gte=selection.date_from,
        business_date__lte=selection.date_to,
        org_unit__path__startswith=selection.unit_path,
    )
    if selection.kinds:
        qs = qs.filter(kind__in=list(selection.kinds))
    for dim, value in selection.equal:
        qs = qs.filter(**{f"{dim}_id" if dim in _FOREIGN_KEYS else dim: value})
    return qs


def _raw_filter(selection: Selection, prefix: str) -> Q:
    side = 0 if not prefix else 1
    condition = Q(**{f"{prefix}meter__org_unit__path__startswith": selection.unit_path})
    if selection.kinds:
        condition &= Q(**{f"{prefix}kind__in": list(selection.kinds)})
    for dim, value in selection.equal:
        condition &= Q(**{DIMENSIONS[dim][side]: value})
    return condition


@dataclass(frozen=True)
class Freshness:
    last_sale_id: int
    last_reversal_id: int
    folded_at: datetime.datetime | None


def read_figures(
    selection: Selection, dims: Sequence[str], *, use_rollup: bool = True
) -> tuple[dict[tuple[Any, ...], Figures], Freshness]:
    """Figures per ``dims`` (roll-up dimension names) for the selection: the roll-up up to the
    watermark, then the sales and reversals after it. ``use_rollup=False`` reads only the raw
    rows (the check, and the benchmark's "without")."""
    # A reversal falls in the period by its instant: [the first day's start, the last day's end)
    # in the utility's zone (a daylight-saving day is 23 or 25 hours).
    start = day_bounds_utc(selection.date_from, _zone())[0]
    end = day_bounds_utc(selection.date_to, _zone())[1]
    for _attempt in range(5):
        mark = watermark() if use_rollup else RollupWatermark(name=WATERMARK)
        found: dict[tuple[Any, ...], Figures] = {}

        def add(
            key: tuple[Any, ...],
            figures: dict[str, Any],
            found: dict[tuple[Any, ...], Figures] = found,
        ) -> None:
            found.setdefault(key, Figures()).add(figures)

        if use_rollup and (mark.last_sale_id or mark.last_reversal_id):
            columns = [f"{d}_id" if d in _FOREIGN_KEYS else d for d in dims]
            rows = (
                _rollup_rows(selection)
                .order_by()
                .values(*columns)
                .annotate(**{name: Sum(name) for name in MEASURES})
            )
            for row in rows:
                add(tuple(row[c] for c in columns), row)
        sales = Sale.objects.filter(
            _raw_filter(selection, ""),
            id__gt=mark.last_sale_id,
            business_date__gte=selection.date_from,
            business_date__lte=selection.date_to,
        )
        for key, figures in sale_facts(sales, dims):
            add(key, figures)
        reversals = _reversals().filter(
            _raw_filter(selection, "sale__"),
            id__gt=mark.last_reversal_id,
            created_at__gte=start,
            created_at__lt=end,
        )
        for key, figures in reversal_facts(reversals, dims):
            add(key, figures)
        # A fold that committed while this read ran would count its rows twice (or not at
        # all): read again from the new watermark.
        again = watermark() if use_rollup else mark
        if (again.last_sale_id, again.last_reversal_id) == (
            mark.last_sale_id,
            mark.last_reversal_id,
        ):
            return found, Freshness(mark.last_sale_id, mark.last_reversal_id, mark.folded_at)
    raise RuntimeError("the roll-up kept moving while a report read it")


# --- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    business_date: datetime.date
    vending_point_id: int | None
    currency: str
    measure: str
    rollup: Any
    raw: Any


def verify() -> list[Difference]:
    """The roll-up against the raw sales and reversals it says it holds (ids up to the
    watermark), per day, vending point and currency, every figure: an empty list when equal."""
    mark = watermark()
    dims = ("business_date", "vending_point", "currency")
    rolled: dict[tuple[Any, ...], Figures] = {}
    for row in (
        SalesDay.objects.order_by()
        .values("business_date", "vending_point_id", "currency")
        .annotate(**{name: Sum(name) for name in MEASURES})
    ):
        key = (row["business_date"], row["vending_point_id"], row["currency"])
        rolled.setdefault(key, Figures()).add(dict(row))
    raw: dict[tuple[Any, ...], Figures] = {}
    for key, figures in sale_facts(Sale.objects.filter(id__lte=mark.last_sale_id), dims):
        raw.setdefault(key, Figures()).add(figures)
    for key, figures in reversal_facts(_reversals().filter(id__lte=mark.last_reversal_id), dims):
        raw.setdefault(key, Figures()).add(figures)
    differences: list[Difference] = []
    for key in sorted(set(rolled) | set(raw), key=lambda k: (k[0], k[1] or 0, k[2])):
        mine, theirs = rolled.get(key, Figures()), raw.get(key, Figures())
        for name in MEASURES:
            if getattr(mine, name) != getattr(theirs, name):
                differences.append(
                    Difference(
                        key[0], key[1], key[2], name, getattr(mine, name), getattr(theirs, name)
                    )
                )
    return differences
