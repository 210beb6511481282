"""What a station holds of the master's data and how it travels (docs/stations.md, "What a
station holds" and "Down-sync"): the synced models with their explicit field lists, each
one's scope for a station, the wire form of a row, and the pages of ``GET changes``.

Both sides use this module: the master to read and serialise (:func:`changes_page`), the
station to turn a wire row back into field values (:func:`decode_fields`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from gridvend.customers.models import Customer, Debt, Premise
from gridvend.identity.models import CapabilityGrant, User
from gridvend.kernel.clock import business_date
from gridvend.meters.models import KeyChange, Meter
from gridvend.org.models import OrgLevel, OrgUnit, VendingPoint
from gridvend.stations import changelog
from gridvend.stations.errors import StationChangesQueryInvalid
from gridvend.stations.models import (
    LocalStation,
    Station,
    StationAllowance,
    StationEntry,
    StationRole,
    SyncChange,
)
from gridvend.tariffs.models import Tariff, TariffVersion, VersionStatus
from gridvend.vending.models import CustomerMonth, Sale, SaleStatus

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


# How many relays a station may sit under (station -> BU -> region -> DC), as relay.MAX_HOPS.
MAX_HOPS = 4


@dataclass(frozen=True)
class Scope:
    """The station's place in the tree: its unit's path and its ancestors' paths; for a relay,
    its own station row and the relays above it (``above``), whose rows it holds too."""

    path: str
    ancestors: tuple[str, ...]
    station_id: int = 0
    is_relay: bool = False
    above: tuple[int, ...] = ()

    @classmethod
    def of(cls, station: Station) -> Scope:
        path = station.org_unit.path
        segments = [s for s in path.split("/") if s]
        ancestors = tuple("".join(f"{s}/" for s in segments[:i]) for i in range(1, len(segments)))
        above: list[int] = []
        parent = station.parent_id
        while parent is not None and len(above) < MAX_HOPS and parent not in above:
            above.append(parent)
            parent = Station.objects.filter(pk=parent).values_list("parent_id", flat=True).first()
        return cls(
            path=path,
            ancestors=ancestors,
            station_id=station.pk,
            is_relay=station.role == StationRole.RELAY,
            above=tuple(above),
        )


def _stations(scope: Scope) -> QuerySet[Station]:
    """A relay holds its own row, the relays above it (its row's parent) and every station
    below it, up to MAX_HOPS down (their keys, status and journal position: it checks their
    uploads and answers their status). A selling station holds none."""
    if not scope.is_relay:
        return Station.objects.none()
    below = Q()
    for depth in range(1, MAX_HOPS + 1):
        below |= Q(**{"__".join(["parent"] * depth) + "_id": scope.station_id})
    return Station.objects.filter(Q(pk=scope.station_id) | Q(pk__in=scope.above) | below)


def _tariffs(scope: Scope) -> QuerySet[Tariff]:
    # The unit's own and its ancestors' tariffs, and any tariff one of its customers is on.
    return Tariff.objects.filter(
        Q(org_unit__path__startswith=scope.path)
        | Q(org_unit__path__in=scope.ancestors)
        | Q(pk__in=Customer.objects.filter(org_unit__path__startswith=scope.path).values("tariff"))
    )


def current_month() -> str:
    """The business month a sale made now belongs to ("YYYY-MM", as ``Sale.business_month``)."""
    today = business_date(timezone.now(), settings.TIME_ZONE)
    return f"{today.year:04d}-{today.month:02d}"


def _month_customers(scope: Scope) -> QuerySet[Customer]:
    """On the master, the customers of the scope a month row is computed for: those with a sale
    this month, or fixed charges paid through a day (of any month)."""
    sales = Sale.objects.filter(customer=OuterRef("pk")).filter(
        Q(business_month=current_month())
        | Q(status=SaleStatus.COMPLETED, fixed_charges_paid_through__isnull=False)
    )
    return Customer.objects.filter(org_unit__path__startswith=scope.path).filter(Exists(sales))


# A selling station's sales the master applied after it told the station how far it had
# applied its journal: (station id, that last applied seq).
LeaveOut = tuple[int, int] | None


def month_rows(customer_ids: Iterable[int], leave_out: LeaveOut = None) -> dict[int, CustomerMonth]:
    """The month rows of these customers as the master computes them from its sales, with what
    ``vending.locks.read_sale_context`` sums (completed sales' priced kWh and debt recovered
    this month, FBE given this month whatever became of the sale, the latest paid-through day);
    a customer with nothing to count has none. Built, never saved: the master's table stays
    empty, so its own pricing never counts a sale twice.

    ``leave_out``: the asking station's sales applied after the ``applied_seq`` its page tells
    it are not counted (one applied between that read and this one would be counted here and
    not netted by the station, which takes off only what the page says was applied)."""
    month = current_month()
    completed = Q(status=SaleStatus.COMPLETED)
    this_month = Q(business_month=month)
    sales = Sale.objects.filter(customer_id__in=list(customer_ids))
    if leave_out is not None:
        station_id, applied_seq = leave_out
        later = StationEntry.objects.filter(
            sale=OuterRef("pk"), station_id=station_id, seq__gt=applied_seq
        )
        sales = sales.filter(~Exists(later))
    totals = (
        sales.order_by()
        .values("customer_id")
        .annotate(
            priced=Sum("priced_kwh", filter=completed & this_month),
            fbe=Sum("fbe_kwh", filter=this_month),
            debt=Sum("debt_recovered_minor", filter=completed & this_month),
            paid=Max("fixed_charges_paid_through", filter=completed),
        )
    )
    rows: dict[int, CustomerMonth] = {}
    for total in totals:
        row = CustomerMonth(
            customer_id=total["customer_id"],
            month=month,
            # SQLite sums decimals as floats: the column's scale makes them exact again.
            priced_kwh=Decimal(str(total["priced"] or 0)).quantize(Decimal("0.000001")),
            fbe_kwh=Decimal(str(total["fbe"] or 0)).quantize(Decimal("0.1")),
            debt_recovered_minor=int(total["debt"] or 0),
            fixed_charges_paid_through=total["paid"],
        )
        if row.priced_kwh or row.fbe_kwh or row.debt_recovered_minor or total["paid"]:
            rows[row.customer_id] = row
    return rows


@dataclass(frozen=True)
class Synced:
    label: str
    model: type[models.Model]
    # The attribute names sent (a foreign key as its ``<name>_id``), in this order.
    fields: tuple[str, ...]
    scope: Callable[[Scope], QuerySet[Any]]
    # A label the master computes when it serves it (its table holds only what a station or
    # relay pulled): the primary keys the scope may have rows for, and the rows of some.
    computed_keys: Callable[[Scope], QuerySet[Any]] | None = None
    compute: Callable[[Iterable[int], LeaveOut], dict[int, models.Model]] | None = None


# In the order a station applies them: a row's foreign keys point at rows of models before it.
SYNCED: tuple[Synced, ...] = (
    Synced("org.orglevel", OrgLevel, ("depth", "name", "code"), lambda s: OrgLevel.objects.all()),
    Synced(
        "org.orgunit",
        OrgUnit,
        ("name", "code", "parent_id", "depth", "path", "is_active", "tid_lanes", "created_at"),
        lambda s: OrgUnit.objects.filter(Q(path__startswith=s.path) | Q(path__in=s.ancestors)),
    ),
    Synced(
        "tariffs.tariff",
        Tariff,
        ("code", "name", "org_unit_id", "currency", "created_at"),
        _tariffs,
    ),
    Synced(
        "tariffs.tariffversion",
        TariffVersion,
        (
            "tariff_id",
            "number",
            "status",
            "spec",
            "effective_from",
            "notes",
            "created_at",
            "submitted_at",
            "approved_at",
        ),
        # Only published versions price a sale; drafts and rejected ones stay on the master.
        lambda s: TariffVersion.objects.filter(
            status=VersionStatus.PUBLISHED, tariff__in=_tariffs(s)
        ),
    ),
    Synced(
        "org.vendingpoint",
        VendingPoint,
        (
            "org_unit_id",
            "code",
            "name",
            "channel",
            "status",
            "address",
            "ip_allow_list",
            "uses_float",
            "float_account",
            "created_at",
        ),
        lambda s: VendingPoint.objects.filter(org_unit__path__startswith=s.path),
    ),
    Synced(
        "identity.user",
        User,
        (
            "username",
            "full_name",
            "email",
            "phone",
            "org_unit_id",
            "role",
            "language",
            "is_active",
            "created_at",
            # The Argon2 hash and the TOTP secret: the station signs its people in itself
            # (docs/stations.md says what this puts on the station's disk).
            "password",
            "totp_secret",
            "totp_confirmed",
        ),
        lambda s: User.objects.filter(org_unit__path__startswith=s.path, is_service_account=False),
    ),
    Synced(
        "identity.capabilitygrant",
        CapabilityGrant,
        ("user_id", "capability", "granted_at"),
        lambda s: CapabilityGrant.objects.filter(
            user__org_unit__path__startswith=s.path, user__is_service_account=False
        ),
    ),
    Synced(
        "customers.customer",
        Customer,
        (
            "account_number",
            "name",
            "name_search",
            "national_id",
            "phone",
            "email",
            "category",
            "status",
            "account_kind",
            "language",
            "org_unit_id",
            "tariff_id",
            "created_at",
        ),
        lambda s: Customer.objects.filter(org_unit__path__startswith=s.path),
    ),
    Synced(
        "customers.premise",
        Premise,
        (
            "org_unit_id",
            "address",
            "latitude",
            "longitude",
            "feeder",
            "transformer",
            "created_at",
        ),
        lambda s: Premise.objects.filter(org_unit__path__startswith=s.path),
    ),
    Synced(
        "meters.meter",
        Meter,
        (
            "number",
            "org_unit_id",
            "make",
            "model",
            "phases",
            "carrier",
            "sgc",
            "ti",
            "krn",
            "kt",
            "ken",
            "ea",
            "dkga",
            "base_date_year",
            "key_ref",
            "status",
            "block_reason",
            "last_tid",
            "register_digits",
            "customer_id",
            "premise_id",
            "created_at",
        ),
        lambda s: Meter.objects.filter(org_unit__path__startswith=s.path),
    ),
    Synced(
        "meters.keychange",
        KeyChange,
        (
            "meter_id",
            "status",
            "reason",
            "old_params",
            "new_params",
            "roll_over",
            "requested_at",
            "issued_at",
        ),
        lambda s: KeyChange.objects.filter(meter__org_unit__path__startswith=s.path),
    ),
    Synced(
        "customers.debt",
        Debt,
        (
            "customer_id",
            "reason",
            "currency",
            "original_minor",
            "balance_minor",
            "opened_at",
            "source",
            "settled_minor",
        ),
        lambda s: Debt.objects.filter(customer__org_unit__path__startswith=s.path),
    ),
    # Relays only (see _stations): the rows of the stations it serves and their allowances as
    # the master signed them, which the relay passes on to them unchanged.
    Synced(
        "stations.station",
        Station,
        (
            "code",
            "name",
            "role",
            "org_unit_id",
            "vending_point_id",
            "parent_id",
            "tid_lane",
            "status",
            "status_reason",
            "public_key",
            "enrolled_at",
            "last_seq",
            "last_hash",
            "created_at",
        ),
        _stations,
    ),
    Synced(
        "stations.stationallowance",
        StationAllowance,
        (
            "station_id",
            "sequence",
            "ceiling_minor",
            "currency",
            "valid_from",
            "valid_until",
            "payload",
            "signature",
            "issued_at",
        ),
        lambda s: StationAllowance.objects.filter(station__in=_stations(s)),
    ),
    # A customer's month totals (docs/stations.md, "Month totals"), keyed by the customer's id:
    # computed by the master from its sales, held as pulled by a relay. Last, so that a snapshot
    # position taken before it was added still names the same model.
    Synced(
        "vending.customermonth",
        CustomerMonth,
        ("month", "priced_kwh", "fbe_kwh", "debt_recovered_minor", "fixed_charges_paid_through"),
        lambda s: CustomerMonth.objects.filter(customer__org_unit__path__startswith=s.path),
        computed_keys=_month_customers,
        compute=month_rows,  # type: ignore[arg-type]
    ),
)
BY_LABEL = {spec.label: spec for spec in SYNCED}


def is_master() -> bool:
    """Whether this install is the master (a station or relay has its own station row)."""
    return not LocalStation.objects.filter(pk=1).exists()


def rows_in_scope(spec: Synced, scope: Scope, *, master: bool) -> dict[int, models.Model]:
    """Every row of ``spec`` the scope holds now, as a page would send it (the tests' and
    tools' view of what a station converges to)."""
    if master and spec.compute is not None and spec.computed_keys is not None:
        return spec.compute(spec.computed_keys(scope).values_list("pk", flat=True), None)
    return {row.pk: row for row in spec.scope(scope)}


ORDER = {spec.label: i for i, spec in enumerate(SYNCED)}
# Rows whose log path says nothing of who may see them: sent through their scope only.
_GLOBAL_LABELS = ("org.orglevel", "tariffs.tariff", "tariffs.tariffversion")
# Rows only a relay holds: a selling station is not told of their changes at all.
_RELAY_LABELS = ("stations.station", "stations.stationallowance")


def _field(model: type[models.Model], attname: str) -> models.Field[Any, Any]:
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            return field
    raise LookupError(f"{model._meta.label} has no field {attname}")


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode(spec: Synced, row: models.Model) -> dict[str, Any]:
    return {name: _wire(getattr(row, name)) for name in spec.fields}


def decode_fields(spec: Synced, fields: Any) -> dict[str, Any]:
    """A wire row's values as the model's Python values; only the spec's own fields are read,
    and every one must be there (a ValueError otherwise)."""
    if not isinstance(fields, dict):
        raise ValueError("fields is not an object")
    values: dict[str, Any] = {}
    for name in spec.fields:
        if name not in fields:
            raise ValueError(f"{spec.label}: {name} is missing")
        field = _field(spec.model, name)
        raw = fields[name]
        if raw is None or isinstance(field, models.JSONField):
            values[name] = raw
        else:
            target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
            values[name] = target.to_python(raw)
    return values


# --- Pages of GET changes --------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotPosition:
    """Where a snapshot's next page starts: the log's high-water mark when the snapshot began,
    the model it is walking and the last primary key sent. Wire form ``high.model.after``."""

    high: int
    model: int
    after: int

    def text(self) -> str:
        return f"{self.high}.{self.model}.{self.after}"

    @classmethod
    def parse(cls, text: str) -> SnapshotPosition:
        parts = text.split(".")
        if (
            len(text) > 60
            or len(parts) != 3
            or not all(p.isdigit() and p.isascii() and len(p) <= 18 for p in parts)
        ):
            raise StationChangesQueryInvalid(problem="snapshot is not a snapshot position")
        high, model, after = (int(p) for p in parts)
        if model >= len(SYNCED):
            raise StationChangesQueryInvalid(problem="snapshot names no model")
        return cls(high, model, after)


@dataclass(frozen=True)
class Applied:
    """How far the master has applied journals, told with a page (read before the page's log is
    numbered and its rows are read, so every row of the page, and every row the caller will get
    for a change those entries made, already counts those entries' sales).

    ``seq``: for a selling station, its own last applied entry (None: not known here, e.g. a
    relay that has not finished a pull since it learnt it); ``below``: for a relay, the same per
    station below it."""

    seq: int | None = None
    below: dict[str, int] | None = None


@dataclass(frozen=True)
class Page:
    cursor_to: int
    more: bool
    changes: list[dict[str, Any]]
    snapshot: str | None = None
    applied: Applied = Applied()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cursor_to": self.cursor_to,
            "more": self.more,
            "changes": self.changes,
            "snapshot": self.snapshot,
        }
        if self.applied.seq is not None:
            data["applied_seq"] = self.applied.seq
        if self.applied.below is not None:
            data["applied_below"] = self.applied.below
        return data


def applied_for(station: Station) -> Applied:
    """What the caller is told of the master's application of journals (see :class:`Applied`).
    On the master, its own rows; on a relay, what the master told it with the page that ended
    its last finished pull (its own copy of a station's ``last_seq`` may be newer than the rows
    it holds)."""
    me = LocalStation.objects.filter(pk=1).values_list("applied_seqs", flat=True).first()
    if me is None:
        if station.role == StationRole.RELAY:
            below = (
                _stations(Scope.of(station)).exclude(pk=station.pk).exclude(role=StationRole.RELAY)
            )
            return Applied(below=dict(below.values_list("code", "last_seq")))
        seq = Station.objects.filter(pk=station.pk).values_list("last_seq", flat=True).first()
        return Applied(seq=int(seq or 0))
    known: dict[str, int] = me if isinstance(me, dict) else {}
    if station.role == StationRole.RELAY:
        codes = set(
            _stations(Scope.of(station)).exclude(pk=station.pk).values_list("code", flat=True)
        )
        return Applied(below={c: s for c, s in known.items() if c in codes})
    return Applied(seq=known.get(station.code))


def _high_water() -> int:
    """Number what can be numbered, then the highest number: every log row at or below it is
    visible to the reads that follow."""
    with transaction.atomic():
        changelog.assign_sequence(connection)
    return int(SyncChange.objects.aggregate(high=Max("seq"))["high"] or 0)


def _upserts(spec: Synced, rows: Iterable[models.Model]) -> list[dict[str, Any]]:
    return [
        {"model": spec.label, "pk": row.pk, "deleted": False, "fields": encode(spec, row)}
        for row in rows
    ]


def snapshot_page(station: Station, position: SnapshotPosition | None, limit: int) -> Page:
    """One page of everything the station may see, model by model in primary-key order."""
    applied = applied_for(station)
    if position is None:
        position = SnapshotPosition(_high_water(), 0, 0)
    scope = Scope.of(station)
    changes: list[dict[str, Any]] = []
    model, after = position.model, position.after
    master = is_master()
    while model < len(SYNCED) and len(changes) < limit:
        spec = SYNCED[model]
        want = limit - len(changes)
        if master and spec.compute is not None and spec.computed_keys is not None:
            keys = list(
                spec.computed_keys(scope)
                .filter(pk__gt=after)
                .order_by("pk")
                .values_list("pk", flat=True)[:want]
            )
            computed = spec.compute(keys, _leave_out(station, applied))
            changes += _upserts(spec, [computed[pk] for pk in keys if pk in computed])
        else:
            rows = list(spec.scope(scope).filter(pk__gt=after).order_by("pk")[:want])
            keys = [row.pk for row in rows]
            changes += _upserts(spec, rows)
        if len(keys) < want:
            model, after = model + 1, 0
        else:
            after = keys[-1]
    if model >= len(SYNCED):
        # Done: what changed while the pages were read has numbers above ``high``, and comes
        # next, as changes since it (none can be pending when the log was still empty).
        return Page(position.high, position.high > 0, changes, applied=applied)
    return Page(
        0, True, changes, SnapshotPosition(position.high, model, after).text(), applied=applied
    )


def _leave_out(station: Station, applied: Applied) -> LeaveOut:
    """What a computed row leaves out for this caller: a selling station's sales applied after
    the ``applied_seq`` its page carries (a relay nets nothing itself: none)."""
    if station.role == StationRole.RELAY or applied.seq is None:
        return None
    return (station.pk, applied.seq)


def _rows_of(
    spec: Synced, scope: Scope, ids: Iterable[int], *, master: bool, leave_out: LeaveOut
) -> dict[int, models.Model]:
    """The rows of these primary keys the scope holds now (computed on the master where the
    label is)."""
    if master and spec.compute is not None and spec.computed_keys is not None:
        keys = spec.computed_keys(scope).filter(pk__in=ids).values_list("pk", flat=True)
        return spec.compute(keys, leave_out)
    return {row.pk: row for row in spec.scope(scope).filter(pk__in=ids)}


def _with_dependencies(
    scope: Scope, found: dict[str, dict[int, models.Model]], *, master: bool, leave_out: LeaveOut
) -> None:
    """A customer travels with its tariff and the tariff's published versions, and with its
    month totals: a customer moved to a tariff the station has never held must not arrive
    without it, nor one moved into the unit without what it bought this month."""
    customers = found.get("customers.customer", {})
    if customers:
        months = found.setdefault("vending.customermonth", {})
        spec = BY_LABEL["vending.customermonth"]
        rows = _rows_of(spec, scope, list(customers), master=master, leave_out=leave_out)
        for pk, row in rows.items():
            months.setdefault(pk, row)
    tariff_ids = {row.tariff_id for row in customers.values()}  # type: ignore[attr-defined]
    if not tariff_ids:
        return
    tariffs = found.setdefault("tariffs.tariff", {})
    for tariff in Tariff.objects.filter(pk__in=tariff_ids):
        tariffs.setdefault(tariff.pk, tariff)
    versions = found.setdefault("tariffs.tariffversion", {})
    for version in TariffVersion.objects.filter(
        tariff_id__in=tariff_ids, status=VersionStatus.PUBLISHED
    ):
        versions.setdefault(version.pk, version)


def changes_page(station: Station, cursor: int, limit: int) -> Page:
    """The rows changed after ``cursor`` that the station may see, each once and as it is now
    (or deleted: gone, or no longer in the station's scope)."""
    applied = applied_for(station)
    high = _high_water()
    scope = Scope.of(station)
    visible = (
        Q(path__startswith=scope.path)
        | Q(path__in=scope.ancestors)
        | Q(path="")
        | Q(model__in=_GLOBAL_LABELS)
    )
    if not scope.is_relay:
        visible &= ~Q(model__in=_RELAY_LABELS)
    log = list(
        SyncChange.objects.filter(visible, seq__gt=cursor, seq__lte=high)
        .order_by("seq")
        .values_list("seq", "model", "object_id")[: limit + 1]
    )
    more = len(log) > limit
    log = log[:limit]
    cursor_to = int(log[-1][0] or 0) if more else max(high, cursor)
    wanted: dict[str, set[int]] = {}
    for _, label, object_id in log:
        if label in BY_LABEL:
            wanted.setdefault(label, set()).add(object_id)
    found: dict[str, dict[int, models.Model]] = {}
    master = is_master()
    leave_out = _leave_out(station, applied)
    for label, ids in wanted.items():
        # None of a row out of scope (or a customer with nothing to count): deleted.
        found[label] = _rows_of(BY_LABEL[label], scope, ids, master=master, leave_out=leave_out)
    _with_dependencies(scope, found, master=master, leave_out=leave_out)
    changes: list[dict[str, Any]] = []
    for spec in SYNCED:
        rows = found.get(spec.label, {})
        changes += _upserts(spec, [rows[pk] for pk in sorted(rows)])
        for pk in sorted(wanted.get(spec.label, set()) - set(rows)):
            changes.append({"model": spec.label, "pk": pk, "deleted": True, "fields": None})
    return Page(cursor_to, more, changes, applied=applied)
