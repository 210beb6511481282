"""The row locks the vending use cases take, one function per lock set, always in one order.

Every use case that locks more than one row takes them in this order, so two of them never wait
for each other in a cycle (a deadlock):

1. the decision request being approved or rejected (``approvals.lock_decision_request``);
2. the customer, then the meter (``lock_meter_for_sale``, both in one statement, or
   ``lock_customer_and_meter``);
3. the sale (``lock_sale``, ``lock_sale_for_reversal``, ``lock_receipt_printed_at``);
4. shifts: the sale's own shift, share-locked by the sale's one read (``read_sale_context``),
   then the drawer paying a refund (``lock_shift_status``, ``lock_open_drawer``, ``lock_shift``);
5. the issuer's user row (``lock_user``), which serialises one person's free issues and transfers;
6. a float's (or wallet's) account row, taken by the database when a posting moves its kept
   balance (``ledger.triggers``): a sale holds it only from its postings to its commit;
7. the audit stream's head, taken by the statement that appends the use case's audit event,
   its last write (``audit.services.record``).

Rows that belong to a row already locked (a meter's pending key change, a customer's debts) are
taken after their owner at any point: no other path reaches them without the owner's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db.models import QuerySet

from gridvend import rows
from gridvend.customers.models import Customer, Debt
from gridvend.identity.models import User
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter
from gridvend.org.models import OrgUnit
from gridvend.tariffs.models import VersionStatus
from gridvend.vending.models import (
    RequestStatus,
    Sale,
    SaleKind,
    SaleStatus,
    Shift,
    ShiftStatus,
)


def lock_customer_and_meter(meter: Meter) -> tuple[Customer | None, Meter]:
    """Lock the customer, then the meter (always in that order, so sales never deadlock).

    The locked rows are read fresh; the organisation unit is taken from the looked-up meter
    (it cannot change the sale) rather than joined again.
    """
    customer = None
    if meter.customer_id is not None:
        customer = (
            Customer.objects.select_for_update(of=("self",))
            .select_related("tariff")
            .get(pk=meter.customer_id)
        )
    locked = Meter.objects.select_for_update().get(pk=meter.pk)
    if locked.customer_id != meter.customer_id:
        # The installation changed between lookup and lock; take the new customer too.
        return lock_customer_and_meter(locked)
    if locked.org_unit_id == meter.org_unit_id:
        locked.org_unit = meter.org_unit
    locked.customer = customer
    return customer, locked


def lock_pending_key_change(meter: Meter) -> KeyChange | None:
    """The meter's pending key change (the caller holds the meter's lock)."""
    return (
        KeyChange.objects.select_for_update()
        .filter(meter=meter, status=KeyChangeStatus.PENDING)
        .first()
    )


def lock_sale(sale: Sale) -> Sale:
    return Sale.objects.select_for_update(of=("self",)).get(pk=sale.pk)


def lock_sale_for_reversal(sale: Sale) -> Sale:
    """The sale's customer (its debts are restored), then the sale with its journal entry."""
    if sale.customer_id is not None:
        Customer.objects.select_for_update().get(pk=sale.customer_id)
    return (
        Sale.objects.select_for_update(of=("self",)).select_related("journal_entry").get(pk=sale.pk)
    )


def lock_receipt_printed_at(sale: Sale) -> datetime | None:
    """When the sale's original receipt was printed, under the sale's lock (one original only)."""
    return (
        Sale.objects.select_for_update(of=("self",))
        .values_list("receipt_printed_at", flat=True)
        .get(pk=sale.pk)
    )


def open_debts(customer: Customer, *, lock: bool) -> QuerySet[Debt]:
    """The customer's debts with a balance, oldest first (the order a sale recovers them in);
    locked when a sale will pay them down (the caller holds the customer's lock)."""
    debts = Debt.objects.filter(customer=customer, balance_minor__gt=0).order_by("opened_at", "id")
    return debts.select_for_update() if lock else debts


def lock_debt(debt_id: int) -> Debt:
    return Debt.objects.select_for_update().get(pk=debt_id)


def lock_shift_status(shift_id: int) -> str:
    """The shift's status under its lock: a sale or a refund never interleaves with its close."""
    return Shift.objects.select_for_update().values_list("status", flat=True).get(pk=shift_id)


def lock_open_drawer(shift: Shift) -> bool:
    """Lock the drawer that would pay a refund; whether it is still open."""
    return Shift.objects.select_for_update().filter(pk=shift.pk, status=ShiftStatus.OPEN).exists()


def lock_shift(shift: Shift) -> Shift:
    """The shift to close, sign off or force-close, with its point's organisation unit."""
    return (
        Shift.objects.select_for_update(of=("self",))
        .select_related("vending_point__org_unit")
        .get(pk=shift.pk)
    )


def lock_user(user: User) -> None:
    """The issuer's own row: one person's free issues (or transfers) are counted one at a time."""
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))


@lru_cache(maxsize=4)
def _meter_for_sale_sql(vendor: str) -> str:
    lock = " FOR UPDATE OF c, m" if vendor == "postgresql" else ""
    return (
        f"SELECT {rows.columns(Meter, 'm')}, {rows.columns(Customer, 'c')}, "  # noqa: S608
        f"{rows.columns(OrgUnit, 'o')} FROM meters_meter m "
        "JOIN customers_customer c ON c.id = m.customer_id "
        "JOIN org_orgunit o ON o.id = m.org_unit_id "
        f"WHERE m.number = %s AND SUBSTR(o.path, 1, %s) = %s{lock}"
    )


def lock_meter_for_sale(actor: User, digits: str) -> Meter | None:
    """The meter numbered ``digits`` in the actor's scope with its installed customer, both
    locked in one statement (the customer first, then the meter: ``FOR UPDATE OF`` locks in the
    order it names them, the order of this module), with its organisation unit.

    None when no such row: an unknown or out-of-scope meter, or one with no customer. The caller
    then takes the slower path that names the reason (``meters.selectors.find_meter``,
    ``lock_customer_and_meter``). Hand-written, because every sale runs it and the ORM spends
    longer compiling this join than the database spends answering it.
    """
    if not actor.is_active:
        return None
    scope = actor.org_unit.path
    with rows.cursor() as cursor:
        cursor.execute(_meter_for_sale_sql(rows.database().vendor), [digits, len(scope), scope])
        row = cursor.fetchone()
    if row is None:
        return None
    meter_end = rows.width(Meter)
    customer_end = meter_end + rows.width(Customer)
    meter = rows.instance(Meter, row[:meter_end])
    meter.customer = rows.instance(Customer, row[meter_end:customer_end])
    meter.org_unit = rows.instance(OrgUnit, row[customer_end:])
    return meter


@dataclass(frozen=True)
class SaleReads:
    """Everything a sale decides on besides the locked customer and meter, read in one
    statement once those locks are held (so no sale of this customer can move it meanwhile).

    ``shift_id``: the seller's open shift at the point (share-locked where the sale needs it,
    so its close waits for the sale, and a sale after the close finds none); None if none.
    ``version_id``/``version_key``: the tariff version in force and what tells two versions
    apart where ids are reused; None when none is in force. The month's totals are the
    customer's completed sales in the business month; ``open_debts`` counts debts with a
    balance (their rows are read only when there are any); ``key_change_id`` is the meter's
    pending key change. On an offline station the month's totals and the paid-through day add
    the customer's month row the station pulled (``CustomerMonth``: what the master and other
    stations sold), when it is of the sale's month.
    ``free_kwh_to_meter``/``free_kwh_by_issuer``: free energy counted against the approval
    limit in the period (only when asked for): to the meter, every free issue (approved ones
    too) and every pending request; by the issuer, the free issues they made alone (not those
    they approved for someone else) and their pending requests.
    """

    shift_id: int | None
    version_id: int | None
    version_key: str
    month_kwh: Decimal
    month_debt_recovered_minor: int
    month_fbe_kwh: Decimal
    paid_through: date | None
    open_debts: int
    key_change_id: int | None
    free_kwh_to_meter: Decimal = Decimal(0)
    free_kwh_by_issuer: Decimal = Decimal(0)


@dataclass(frozen=True)
class ShiftWanted:
    operator_id: int
    vending_point_id: int
    # Share-lock the shift (a sale that belongs to it); otherwise only attribute the sale.
    lock: bool


@dataclass(frozen=True)
class FreeIssueWanted:
    """Count the free energy given in the ``period`` before the sale, to the meter and by the
    issuer (whose row the caller has locked)."""

    issuer_id: int
    period: timedelta


def _quantised(value: Any, places: int) -> Decimal:
    # SQLite sums decimals as floats; the column's scale makes them exact again (as the ORM does).
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _carried(column: str) -> str:
    """The customer's month row (on a station: what others sold this month, as last pulled;
    on the master: no row), counted only when it is of the sale's month."""
    return (
        f"COALESCE((SELECT c.{column} FROM vending_customermonth c "  # noqa: S608
        "WHERE c.customer_id = %s AND c.month = %s), 0)"
    )


@lru_cache(maxsize=32)
def _sale_reads_sql(vendor: str, shift: str, free_issue: bool) -> str:
    """The statement of :func:`read_sale_context`, built once per shape and backend."""
    completed = f"s.status = '{SaleStatus.COMPLETED}'"
    month = f"{completed} AND s.business_month = %s"
    version = (
        "FROM tariffs_tariffversion v WHERE v.tariff_id = %s "
        f"AND v.status = '{VersionStatus.PUBLISHED}' AND v.effective_from <= %s "
        "ORDER BY v.effective_from DESC, v.number DESC LIMIT 1"
    )
    version_key = "v.approved_at" if vendor != "postgresql" else "CAST(v.approved_at AS VARCHAR)"
    parts = [
        f"(SELECT v.id {version})",
        f"(SELECT {version_key} {version})",
        f"COALESCE((SELECT SUM(CASE WHEN {month} THEN s.priced_kwh END) FROM vending_sale s "  # noqa: S608
        f"WHERE s.customer_id = %s), 0) + {_carried('priced_kwh')}",
        f"COALESCE((SELECT SUM(CASE WHEN {month} THEN s.debt_recovered_minor END) "  # noqa: S608
        f"FROM vending_sale s WHERE s.customer_id = %s), 0) + {_carried('debt_recovered_minor')}",
        "COALESCE((SELECT SUM(CASE WHEN s.business_month = %s THEN s.fbe_kwh END) "  # noqa: S608
        f"FROM vending_sale s WHERE s.customer_id = %s), 0) + {_carried('fbe_kwh')}",
        # MAX of the pair: the aggregate skips a NULL where GREATEST/MAX(a, b) would not agree.
        "(SELECT MAX(p.day) FROM ("  # noqa: S608
        f"SELECT MAX(CASE WHEN {completed} THEN s.fixed_charges_paid_through END) AS day "
        "FROM vending_sale s WHERE s.customer_id = %s UNION ALL "
        "SELECT c.fixed_charges_paid_through FROM vending_customermonth c "
        "WHERE c.customer_id = %s) p)",
        "(SELECT COUNT(*) FROM customers_debt d WHERE d.customer_id = %s AND d.balance_minor > 0)",
        "(SELECT k.id FROM meters_keychange k WHERE k.meter_id = %s "  # noqa: S608
        f"AND k.status = '{KeyChangeStatus.PENDING}' ORDER BY k.id LIMIT 1)",
    ]
    if free_issue:
        free = f"s.kind = '{SaleKind.FREE_ISSUE}' AND s.created_at > %s"
        waiting = f"r.status = '{RequestStatus.PENDING}' AND r.requested_at > %s"
        parts += [
            f"(SELECT COALESCE(SUM(s.kwh), 0) FROM vending_sale s WHERE {free} AND s.meter_id = %s)"  # noqa: S608
            " + (SELECT COALESCE(SUM(r.kwh), 0) FROM vending_freeissuerequest r "
            f"WHERE {waiting} AND r.meter_id = %s)",
            f"(SELECT COALESCE(SUM(s.kwh), 0) FROM vending_sale s WHERE {free} "  # noqa: S608
            "AND s.operator_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM vending_freeissuerequest q WHERE q.sale_id = s.id))"
            " + (SELECT COALESCE(SUM(r.kwh), 0) FROM vending_freeissuerequest r "
            f"WHERE {waiting} AND r.requested_by_id = %s)",
        ]
    select = ", ".join(parts)
    if shift == "none":
        return f"SELECT NULL, {select}"
    where = (
        "WHERE sh.operator_id = %s AND sh.vending_point_id = %s "
        f"AND sh.status = '{ShiftStatus.OPEN}'"
    )
    if shift == "attribute":
        return f"SELECT (SELECT sh.id FROM vending_shift sh {where}), {select}"  # noqa: S608
    lock = " FOR SHARE" if vendor == "postgresql" else ""
    return f"SELECT sh.id, {select} FROM vending_shift sh {where}{lock}"  # noqa: S608


def read_sale_context(
    *,
    customer_id: int | None,
    tariff_id: int | None,
    meter_id: int,
    now: datetime,
    month: str,
    shift: ShiftWanted | None = None,
    free_issue: FreeIssueWanted | None = None,
) -> SaleReads:
    """One statement for every read a sale makes after locking its customer and meter.

    With ``shift.lock`` the row comes from the seller's open shift, share-locked: a shift closed
    meanwhile (its close holds the row) gives no row at all, and ``shift_id`` None.
    """
    connection = rows.database()
    ops = connection.ops
    at = ops.adapt_datetimefield_value(now)
    params: list[Any] = []
    shape = "none" if shift is None else ("lock" if shift.lock else "attribute")
    if shape == "attribute":
        assert shift is not None
        params += [shift.operator_id, shift.vending_point_id]
    params += [tariff_id, at, tariff_id, at]
    for _ in range(3):  # priced kWh, debt recovered, FBE: the own sales', then the carried row
        params += [month, customer_id, customer_id, month]
    params += [customer_id, customer_id]  # paid through
    params += [customer_id, meter_id]
    if free_issue is not None:
        since = ops.adapt_datetimefield_value(now - free_issue.period)
        params += [since, meter_id, since, meter_id]
        params += [since, free_issue.issuer_id, since, free_issue.issuer_id]
    if shape == "lock":
        assert shift is not None
        params += [shift.operator_id, shift.vending_point_id]
    sql = _sale_reads_sql(connection.vendor, shape, free_issue is not None)
    with rows.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        # The shift the sale needs is not open (or was closed while the sale waited for it).
        return SaleReads(None, None, "", Decimal(0), 0, Decimal(0), None, 0, None)
    shift_id, version_id, version_key, kwh, debt, fbe, paid, debts, key_change = row[:9]
    free_to_meter, free_by_issuer = row[9:11] if free_issue is not None else (0, 0)
    return SaleReads(
        shift_id=shift_id,
        version_id=version_id,
        version_key=str(version_key),
        month_kwh=_quantised(kwh, 6),
        month_debt_recovered_minor=int(debt or 0),
        month_fbe_kwh=_quantised(fbe, 1),
        paid_through=_as_date(paid),
        open_debts=int(debts),
        key_change_id=key_change,
        free_kwh_to_meter=_quantised(free_to_meter, 3),
        free_kwh_by_issuer=_quantised(free_by_issuer, 3),
    )
