"""The abnormal-customers findings snapshot: the three sales-based rules of the report
(``gridvend.reports.abnormal``) computed once a night for the whole tree as of the close of a
business date, so that the report answers from a few indexed rows instead of months of sales.

``compute(as_of=...)`` replaces the snapshot of ``as_of`` in one transaction (its row is locked
first, so a retried job and the command run one after the other): three ``INSERT ... SELECT``
statements, each rule's aggregation done by the database over the sales of its window, never row
by row in Python. What a snapshot holds, per rule:

* **no purchase**: every active customer who bought no credit in the SNAPSHOT_MIN_DAYS days up to
  as_of, with their last purchase and their own created_at, so the report narrows them to any
  ``days`` >= SNAPSHOT_MIN_DAYS by filtering;
* **sudden drop**: the customers whose last 30 days fell below the rule's fraction of the 90 days
  before, with both amounts and their last purchase;
* **far above the norm**: the customers who bought over NORM_MULTIPLE times their tariff's median
  kWh in the NORM_DAYS days ending at as_of, with both figures.

Each finding keeps the customer's unit path and tariff at the snapshot, the report's scope and
filter. A sale or reversal made after a snapshot is not in it until that date is computed again
(``gridvend reports abnormal-snapshot --as-of``): the nightly job (``snapshot_job``, every
GRIDVEND_REPORT_ABNORMAL_SNAPSHOT_CRON) computes yesterday and deletes the snapshots older than
GRIDVEND_REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from gridvend.customers.models import Customer, CustomerStatus
from gridvend.kernel.clock import Clock, SystemClock, business_date, day_bounds_utc
from gridvend.org.models import OrgUnit
from gridvend.reports.abnormal import (
    DROP_FRACTION,
    HISTORY_DAYS,
    NORM_DAYS,
    NORM_MULTIPLE,
    RECENT_DAYS,
    SNAPSHOT_MIN_DAYS,
)
from gridvend.reports.errors import ReportSnapshotDayOpen
from gridvend.reports.models import AbnormalFinding, AbnormalRule, AbnormalSnapshot
from gridvend.vending.models import Sale, SaleKind, SaleStatus

# The finding's columns every INSERT fills, in this order.
_COLUMNS = (
    "snapshot_id",
    "rule",
    "customer_id",
    "unit_path",
    "tariff_id",
    "customer_since",
    "last_purchase",
    "recent_minor",
    "before_minor",
    "drop_order",
    "kwh",
    "median_kwh",
)


def _day_start(day: datetime.date) -> datetime.datetime:
    return day_bounds_utc(day, settings.TIME_ZONE)[0]


def _credit() -> QuerySet[Sale]:
    return Sale.objects.filter(kind=SaleKind.CREDIT, status=SaleStatus.COMPLETED)


def _sql(queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SELECT of a queryset and its parameters, adapted to the database by the ORM."""
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


def _names() -> dict[str, str]:
    q = connection.ops.quote_name
    return {
        "finding": q(AbnormalFinding._meta.db_table),
        "customer": q(Customer._meta.db_table),
        "unit": q(OrgUnit._meta.db_table),
        "columns": ", ".join(q(c) for c in _COLUMNS),
    }


def _insert_silent(cursor: Any, snapshot: AbnormalSnapshot, end: datetime.datetime) -> None:
    since = _day_start(snapshot.as_of - datetime.timedelta(days=SNAPSHOT_MIN_DAYS - 1))
    first_day = business_date(since, settings.TIME_ZONE)
    recent = _credit().filter(
        customer_id=OuterRef("pk"),
        business_month__gte=f"{first_day.year:04d}-{first_day.month:02d}",
        created_at__gte=since,
        created_at__lt=end,
    )
    last = (
        _credit()
        .filter(customer_id=OuterRef("pk"), created_at__lt=since)
        .order_by("-business_month", "-created_at")
        .values("created_at")[:1]
    )
    customers = (
        Customer.objects.filter(status=CustomerStatus.ACTIVE, created_at__lt=since)
        .filter(~Exists(recent))
        .annotate(
            f_customer=F("pk"),
            f_path=F("org_unit__path"),
            f_tariff=F("tariff_id"),
            f_since=F("created_at"),
            f_last=Subquery(last),
        )
        .order_by()
        .values("f_customer", "f_path", "f_tariff", "f_since", "f_last")
    )
    select, params = _sql(customers)
    n = _names()
    cursor.execute(
        f"INSERT INTO {n['finding']} ({n['columns']}) "  # noqa: S608 (our names, our SQL)
        "SELECT %s, %s, s.f_customer, s.f_path, s.f_tariff, s.f_since, s.f_last, 0, 0, 0, 0, 0 "
        f"FROM ({select}) s",
        (snapshot.pk, AbnormalRule.NO_PURCHASE, *params),
    )


def _insert_dropping(cursor: Any, snapshot: AbnormalSnapshot, end: datetime.datetime) -> None:
    recent_from = _day_start(snapshot.as_of - datetime.timedelta(days=RECENT_DAYS - 1))
    history_from = _day_start(
        snapshot.as_of - datetime.timedelta(days=RECENT_DAYS + HISTORY_DAYS - 1)
    )
    per_customer = (
        _credit()
        .filter(created_at__gte=history_from, created_at__lt=end)
        .order_by()
        .values("customer_id")
        .annotate(
            f_customer=F("customer_id"),
            f_recent=Coalesce(Sum("tender_minor", filter=Q(created_at__gte=recent_from)), 0),
            f_before=Coalesce(Sum("tender_minor", filter=Q(created_at__lt=recent_from)), 0),
            f_last=Max("created_at"),
        )
        .values("f_customer", "f_recent", "f_before", "f_last")
    )
    select, params = _sql(per_customer)
    # recent < fraction x (before / periods), in integers: recent x periods x den < num x before.
    num, den = DROP_FRACTION.as_integer_ratio()
    periods = HISTORY_DAYS // RECENT_DAYS
    n = _names()
    cursor.execute(
        f"INSERT INTO {n['finding']} ({n['columns']}) "  # noqa: S608 (our names, our SQL)
        "SELECT %s, %s, d.f_customer, u.path, c.tariff_id, c.created_at, d.f_last, "
        f"d.f_recent, d.f_before, d.f_recent * {periods} - d.f_before, 0, 0 "
        f"FROM ({select}) d "
        f"JOIN {n['customer']} c ON c.id = d.f_customer "
        f"JOIN {n['unit']} u ON u.id = c.org_unit_id "
        f"WHERE d.f_before > 0 AND d.f_recent * {periods * den} < {num} * d.f_before",
        (snapshot.pk, AbnormalRule.SUDDEN_DROP, *params),
    )


def _insert_heavy(cursor: Any, snapshot: AbnormalSnapshot, end: datetime.datetime) -> None:
    start = _day_start(snapshot.norm_from)
    per_customer = (
        _credit()
        .filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values("customer_id")
        .annotate(f_customer=F("customer_id"), f_kwh=Sum("kwh"))
        .values("f_customer", "f_kwh")
    )
    select, params = _sql(per_customer)
    n = _names()
    # The median of each tariff's buyers: the middle one, or the mean of the middle two.
    cursor.execute(
        "WITH b AS ("  # noqa: S608 (table names and the ORM's SELECT, values as parameters)
        "  SELECT d.f_customer, d.f_kwh, c.tariff_id, c.created_at, u.path"
        f"  FROM ({select}) d JOIN {n['customer']} c ON c.id = d.f_customer"
        f"  JOIN {n['unit']} u ON u.id = c.org_unit_id"
        "), r AS ("
        "  SELECT tariff_id, f_kwh,"
        "    ROW_NUMBER() OVER (PARTITION BY tariff_id ORDER BY f_kwh) AS rn,"
        "    COUNT(*) OVER (PARTITION BY tariff_id) AS n"
        "  FROM b"
        "), m AS ("
        "  SELECT tariff_id, AVG(f_kwh) AS median FROM r"
        "  WHERE rn = (n + 1) / 2 OR rn = (n + 2) / 2 GROUP BY tariff_id"
        ") "
        f"INSERT INTO {n['finding']} ({n['columns']}) "
        "SELECT %s, %s, b.f_customer, b.path, b.tariff_id, b.created_at, NULL, 0, 0, 0, "
        "b.f_kwh, m.median FROM b JOIN m ON m.tariff_id = b.tariff_id "
        f"WHERE m.median > 0 AND b.f_kwh > {int(NORM_MULTIPLE)} * m.median",
        (*params, snapshot.pk, AbnormalRule.ABOVE_NORM),
    )


def _locked(as_of: datetime.date, now: datetime.datetime) -> AbnormalSnapshot:
    """The snapshot row of ``as_of``, made if need be, locked for this transaction."""
    found = AbnormalSnapshot.objects.select_for_update().filter(as_of=as_of).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            AbnormalSnapshot.objects.create(
                as_of=as_of,
                norm_from=as_of - datetime.timedelta(days=NORM_DAYS - 1),
                computed_at=now,
            )
    except IntegrityError:
        pass  # another run made it first: wait for its lock
    return AbnormalSnapshot.objects.select_for_update().get(as_of=as_of)


def compute(*, as_of: datetime.date, clock: Clock | None = None) -> AbnormalSnapshot:
    """Compute (or compute again) the findings as of the close of ``as_of``, a closed business
    date, replacing whatever that date held, in one transaction."""
    clock = clock or SystemClock()
    today = business_date(clock.now(), settings.TIME_ZONE)
    if as_of >= today:
        raise ReportSnapshotDayOpen(as_of=as_of.isoformat(), today=today.isoformat())
    started = time.perf_counter()
    end = day_bounds_utc(as_of, settings.TIME_ZONE)[1]
    with transaction.atomic():
        snapshot = _locked(as_of, clock.now())
        AbnormalFinding.objects.filter(snapshot=snapshot).delete()
        snapshot.norm_from = as_of - datetime.timedelta(days=NORM_DAYS - 1)
        with connection.cursor() as cursor:
            _insert_silent(cursor, snapshot, end)
            _insert_dropping(cursor, snapshot, end)
            _insert_heavy(cursor, snapshot, end)
        snapshot.finding_count = AbnormalFinding.objects.filter(snapshot=snapshot).count()
        snapshot.computed_at = clock.now()
        snapshot.duration_ms = min(int((time.perf_counter() - started) * 1000), 2**31 - 1)
        snapshot.save(update_fields=["norm_from", "finding_count", "computed_at", "duration_ms"])
    if connection.vendor == "postgresql":
        # Fresh rows: without statistics the planner would not know a snapshot from another.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(AbnormalFinding._meta.db_table)}")
    return snapshot


def prune(*, today: datetime.date) -> int:
    """Delete the snapshots older than GRIDVEND_REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS (the last
    closed day counts as the first kept); the number deleted."""
    oldest_kept = today - datetime.timedelta(days=settings.REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS)
    with transaction.atomic():
        old = AbnormalSnapshot.objects.filter(as_of__lt=oldest_kept)
        AbnormalFinding.objects.filter(snapshot__in=old).delete()
        deleted, _by_model = old.delete()
    return deleted


def snapshot_job(clock: Clock | None = None) -> None:
    """The nightly job (``gridvend.reports.abnormal_snapshot``): yesterday's findings, then the
    old snapshots deleted. Run twice, it computes the same day again and deletes nothing more."""
    clock = clock or SystemClock()
    today = business_date(clock.now(), settings.TIME_ZONE)
    compute(as_of=today - datetime.timedelta(days=1), clock=clock)
    prune(today=today)
