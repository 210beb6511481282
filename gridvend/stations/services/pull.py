"""Down-sync on the station: pull the master's changes page by page and apply each page in one
transaction with the cursor it reaches (docs/stations.md, "Down-sync").

A page is applied whole or not at all, and the cursor (or the snapshot's position) moves in the
same transaction, so a station killed in the middle of a pull starts again at the first page it
had not committed. Rows keep the master's primary keys. What the station writes itself (its
sales, tokens, postings, shifts, audit events and journal) is in tables the pull never touches;
in the synced tables two values are the station's to keep:

- a meter's ``last_tid`` is the larger of the station's and the master's (the station sells in
  its own TID lane, and never goes back below a TID it issued);
- a customer's month totals are the master's less this station's own sales of that month the
  master had applied when it read them (``applied_seq``; from an upstream that does not say, the
  sales acknowledged): what others sold, to which a sale's reads add the station's own sales
  (``vending.locks.read_sale_context``), so none is counted twice;
- a debt's balance is the master's less what the station's sales the master has not applied
  yet recovered from it. The page says how far the master had applied this station's journal
  when its rows were read (``applied_seq``); an acknowledgement is not enough, since a relay
  acknowledges a batch when it stores it, long before the master's rows count the sale. From an
  upstream that does not say, the sales not yet acknowledged.

A row the master deleted (or that left the station's organisation unit) is deleted, unless the
station's own rows refer to it (a meter or customer it sold to, a user who sold): then it stays,
as it was last pulled, and the station's sales keep pointing at it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from gridvend.customers.models import Debt
from gridvend.meters.models import Meter
from gridvend.stations.changes import BY_LABEL, SYNCED, Synced, decode_fields
from gridvend.stations.client import MasterClient
from gridvend.stations.models import LocalEntry, LocalStation, StationRole, SyncChange
from gridvend.vending.models import CustomerMonth, SaleStatus

PAGE_LIMIT = 500
# A pull that has not finished after this many pages stops and resumes at the next sync.
MAX_PAGES = 10_000


class BadPage(Exception):
    """The master's page is not one this station can apply (nothing of it was written)."""


@dataclass
class PullResult:
    pages: int = 0
    upserted: int = 0
    deleted: int = 0
    # Rows the master deleted that the station keeps because its own rows refer to them.
    kept: int = 0
    cursor: int = 0
    finished: bool = False
    models: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Change:
    spec: Synced
    pk: int
    values: dict[str, Any] | None  # None: deleted


# A relay keeps at most this many stations' applied positions from one page.
MAX_APPLIED_BELOW = 10_000


def _applied(data: dict[str, Any]) -> tuple[int | None, dict[str, int] | None]:
    """The page's ``applied_seq`` (this station's last entry the master applied) and, for a
    relay, ``applied_below`` (the same for each station below it); None when absent."""
    seq = data.get("applied_seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        raise BadPage("applied_seq is not a sequence number")
    below = data.get("applied_below")
    if below is None:
        return seq, None
    if not isinstance(below, dict) or len(below) > MAX_APPLIED_BELOW:
        raise BadPage("applied_below is not a map of stations")
    for code, value in below.items():
        if (
            not isinstance(code, str)
            or not 1 <= len(code) <= 40
            or not isinstance(value, int)
            or isinstance(value, bool)
            or value < 0
        ):
            raise BadPage("applied_below is not a map of stations")
    return seq, below


def _read_page(data: dict[str, Any]) -> tuple[int, bool, str, list[_Change]]:
    cursor_to = data.get("cursor_to")
    more = data.get("more")
    snapshot = data.get("snapshot")
    wire = data.get("changes")
    if not isinstance(cursor_to, int) or isinstance(cursor_to, bool) or cursor_to < 0:
        raise BadPage("cursor_to is not a cursor")
    if not isinstance(more, bool):
        raise BadPage("more is not a boolean")
    if snapshot is not None and (not isinstance(snapshot, str) or len(snapshot) > 80):
        raise BadPage("snapshot is not a snapshot position")
    if not isinstance(wire, list):
        raise BadPage("changes is not a list")
    changes: list[_Change] = []
    for item in wire:
        if not isinstance(item, dict):
            raise BadPage("a change is not an object")
        spec = BY_LABEL.get(str(item.get("model")))
        if spec is None:
            # A model a newer master sends that this station does not hold.
            continue
        pk = item.get("pk")
        if not isinstance(pk, int) or isinstance(pk, bool) or pk <= 0:
            raise BadPage(f"{spec.label}: pk is not a primary key")
        if item.get("deleted") is True:
            changes.append(_Change(spec, pk, None))
            continue
        try:
            values = decode_fields(spec, item.get("fields"))
            if spec.model is CustomerMonth:
                _check_month_row(values)
            changes.append(_Change(spec, pk, values))
        except (ValueError, TypeError, LookupError) as bad:
            raise BadPage(f"{spec.label} {pk}: {bad}") from None
    return cursor_to, more, snapshot or "", changes


_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def _check_month_row(values: dict[str, Any]) -> None:
    """A customer's month row holds totals of sales: a month ``YYYY-MM`` and no negative sum
    (a negative one would refuse every sale to the customer, or read as no FBE given)."""
    if not isinstance(values.get("month"), str) or not _MONTH.fullmatch(values["month"]):
        raise ValueError("month is not YYYY-MM")
    for name in ("priced_kwh", "fbe_kwh", "debt_recovered_minor"):
        value = values.get(name)
        if not isinstance(value, int | Decimal) or isinstance(value, bool):
            raise ValueError(f"{name} is not a number")
        if (isinstance(value, Decimal) and not value.is_finite()) or value < 0:
            raise ValueError(f"{name} is negative")


def _pending_recoveries(using: str, applied_seq: int | None) -> dict[int, int]:
    """Debt id -> minor units recovered from it by the station's sales the master has not
    applied yet: those after ``applied_seq``, or, when the upstream did not say, those not yet
    acknowledged."""
    taken: dict[int, int] = {}
    entries = LocalEntry.objects.using(using).filter(sale__isnull=False)
    if applied_seq is None:
        entries = entries.filter(uploaded_at__isnull=True)
    else:
        entries = entries.filter(seq__gt=applied_seq)
    for breakdown in entries.values_list("sale__breakdown", flat=True):
        allocations = (breakdown or {}).get("debt_allocations") or []
        for debt_id, amount in allocations:
            taken[int(debt_id)] = taken.get(int(debt_id), 0) + int(amount)
    return taken


@dataclass(frozen=True)
class _Own:
    priced_kwh: Decimal = Decimal(0)
    fbe_kwh: Decimal = Decimal(0)
    debt_recovered_minor: int = 0


def _applied_sales(
    using: str, applied_seq: int | None, customer_ids: list[int]
) -> dict[tuple[int, str], _Own]:
    """(customer id, month) -> what this station's own sales the master has applied counted
    there, as the master counts them (priced kWh and debt of completed sales, FBE of any)."""
    entries = LocalEntry.objects.using(using).filter(
        sale__isnull=False, sale__customer_id__in=customer_ids
    )
    if applied_seq is None:
        entries = entries.filter(uploaded_at__isnull=False)
    else:
        entries = entries.filter(seq__lte=applied_seq)
    own: dict[tuple[int, str], _Own] = {}
    for customer_id, month, status, priced, fbe, debt in entries.values_list(
        "sale__customer_id",
        "sale__business_month",
        "sale__status",
        "sale__priced_kwh",
        "sale__fbe_kwh",
        "sale__debt_recovered_minor",
    ):
        done = status == SaleStatus.COMPLETED
        was = own.get((customer_id, month), _Own())
        own[(customer_id, month)] = _Own(
            priced_kwh=was.priced_kwh + (Decimal(priced) if done else 0),
            fbe_kwh=was.fbe_kwh + Decimal(fbe),
            debt_recovered_minor=was.debt_recovered_minor + (int(debt) if done else 0),
        )
    return own


def _station_values(
    spec: Synced, rows: list[_Change], using: str, applied_seq: int | None
) -> Callable[[_Change, dict[str, Any] | None], dict[str, Any]]:
    """The values to write for each row, with the station's own kept where it has them."""
    if spec.model is Meter:
        local = dict(
            Meter.objects.using(using)
            .filter(pk__in=[c.pk for c in rows])
            .values_list("pk", "last_tid")
        )

        def meter(change: _Change, values: dict[str, Any] | None) -> dict[str, Any]:
            assert values is not None
            mine, theirs = local.get(change.pk), values["last_tid"]
            if mine is not None and (theirs is None or mine > theirs):
                values = {**values, "last_tid": mine}
            return values

        return meter
    if spec.model is Debt:
        pending = _pending_recoveries(using, applied_seq)

        def debt(change: _Change, values: dict[str, Any] | None) -> dict[str, Any]:
            assert values is not None
            taken = pending.get(change.pk, 0)
            if taken:
                values = {**values, "balance_minor": max(0, values["balance_minor"] - taken)}
            return values

        return debt
    if spec.model is CustomerMonth:
        applied = _applied_sales(using, applied_seq, [c.pk for c in rows])

        def month(change: _Change, values: dict[str, Any] | None) -> dict[str, Any]:
            assert values is not None
            mine = applied.get((change.pk, values["month"]))
            if mine is None:
                return values
            return {
                **values,
                "priced_kwh": max(Decimal(0), values["priced_kwh"] - mine.priced_kwh),
                "fbe_kwh": max(Decimal(0), values["fbe_kwh"] - mine.fbe_kwh),
                "debt_recovered_minor": max(
                    0, values["debt_recovered_minor"] - mine.debt_recovered_minor
                ),
            }

        return month
    return lambda change, values: values or {}


def _upsert(spec: Synced, rows: list[_Change], using: str, applied_seq: int | None) -> int:
    manager = spec.model._default_manager.db_manager(using)
    existing = set(manager.filter(pk__in=[c.pk for c in rows]).values_list("pk", flat=True))
    values_for = _station_values(spec, rows, using, applied_seq)
    new: list[tuple[models.Model, dict[str, Any]]] = []
    for change in rows:
        values = values_for(change, change.values)
        if change.pk in existing:
            manager.filter(pk=change.pk).update(**values)
        else:
            new.append((spec.model(pk=change.pk, **values), values))
    manager.bulk_create([obj for obj, _ in new])
    # bulk_create stamps auto_now(_add) columns with the station's clock: put the master's back.
    stamped = [
        f.attname
        for f in spec.model._meta.concrete_fields
        if f.attname in spec.fields
        and (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
    ]
    for obj, values in new if stamped else []:
        manager.filter(pk=obj.pk).update(**{name: values[name] for name in stamped})
    return len(rows)


def _delete(spec: Synced, pk: int, using: str) -> bool | None:
    """True: deleted; False: absent; None: kept, the station's own rows refer to it."""
    manager = spec.model._default_manager.db_manager(using)
    try:
        with transaction.atomic(using=using):
            count, _ = manager.filter(pk=pk).delete()
    except (ProtectedError, RestrictedError):
        return None
    return bool(count)


def apply_page(data: dict[str, Any], *, using: str = DEFAULT_DB_ALIAS) -> PullResult:
    """Apply one page of ``GET changes`` and move the cursor, in one transaction."""
    cursor_to, more, snapshot, changes = _read_page(data)
    applied_seq, applied_below = _applied(data)
    result = PullResult(pages=1, cursor=cursor_to, finished=not more)
    with transaction.atomic(using=using):
        station = LocalStation.objects.using(using).select_for_update().get(pk=1)
        # Latest wins within a page (the master sends each row once, but be sure).
        latest: dict[tuple[str, int], _Change] = {}
        for change in changes:
            latest[(change.spec.label, change.pk)] = change
        gone = [c for c in latest.values() if c.values is None]
        # Deletions first (children before parents), so that a row deleted and another made with
        # the same unique code in one page do not collide; a row still referred to is tried
        # again after the upserts (they may have moved the reference away).
        protected: list[_Change] = []
        order = {spec.label: i for i, spec in enumerate(SYNCED)}
        for change in sorted(gone, key=lambda c: -order[c.spec.label]):
            outcome = _delete(change.spec, change.pk, using)
            if outcome is None:
                protected.append(change)
            elif outcome:
                result.deleted += 1
        for spec in SYNCED:
            rows = [c for c in latest.values() if c.spec is spec and c.values is not None]
            if rows:
                result.upserted += _upsert(
                    spec, sorted(rows, key=lambda c: c.pk), using, applied_seq
                )
                result.models[spec.label] = result.models.get(spec.label, 0) + len(rows)
        for change in protected:
            outcome = _delete(change.spec, change.pk, using)
            if outcome is None:
                result.kept += 1
            elif outcome:
                result.deleted += 1
        if station.role == StationRole.STATION:
            # The station's own copy of the change log (its triggers saw the rows just written)
            # serves nobody: nothing pulls from a station.
            SyncChange.objects.using(using).all().delete()
        station.sync_cursor = cursor_to
        station.sync_snapshot = snapshot
        update = ["sync_cursor", "sync_snapshot"]
        if not more:
            station.last_sync_at = timezone.now()
            update.append("last_sync_at")
            if station.role == StationRole.STATION and applied_seq is not None:
                # The floor of a rewind (upload.rewind): what the master said it applied, never
                # beyond the journal this station holds.
                newest = (
                    LocalEntry.objects.using(using)
                    .order_by("-seq")
                    .values_list("seq", flat=True)
                    .first()
                )
                held = min(applied_seq, newest or 0)
                if held > station.applied_seq:
                    station.applied_seq = held
                    update.append("applied_seq")
            if station.role == StationRole.RELAY and applied_below is not None:
                # Only with the page that ends a pull: every row the master numbered before it
                # said this is now held, so the relay's rows count every sale it names.
                station.applied_seqs = applied_below
                update.append("applied_seqs")
        station.save(using=using, update_fields=update)
    return result


def pull_changes(
    client: MasterClient, *, using: str = DEFAULT_DB_ALIAS, limit: int = PAGE_LIMIT
) -> PullResult:
    """Pull until the master says there is no more. Raises ``client.LinkDown`` or
    ``client.Refused`` (the pages applied before stay applied) or :class:`BadPage`."""
    total = PullResult()
    for _ in range(MAX_PAGES):
        station = LocalStation.objects.using(using).get(pk=1)
        params = {"cursor": str(station.sync_cursor), "limit": str(limit)}
        if station.sync_cursor == 0 and station.sync_snapshot:
            params["snapshot"] = station.sync_snapshot
        page = apply_page(client.get("changes", params), using=using)
        total.pages += 1
        total.upserted += page.upserted
        total.deleted += page.deleted
        total.kept += page.kept
        total.cursor = page.cursor
        for label, count in page.models.items():
            total.models[label] = total.models.get(label, 0) + count
        if page.finished:
            total.finished = True
            break
    return total
