"""Recording on the master a credit sale an offline station already made: the station priced
it and the customer holds its tokens, so the master writes the sale exactly as recorded (its
breakdown, its tokens' digits and TIDs) through the same writing as an online sale (ledger
entry, debts recovered, audit event, integrity binding), after decoding every token with the
meter's key. What changed on the master meanwhile does not refuse the sale: it is returned as
findings (``OfflineFinding``) for the caller to flag (docs/stations.md, "Conflicts")."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.conf import settings
from django.db.models import Q, Sum

from gridvend import rows
from gridvend.customers.models import Customer, Debt
from gridvend.identity.models import User
from gridvend.kernel.clock import business_date, ensure_utc
from gridvend.kernel.energy import token_kwh
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import (
    BlockLine,
    Breakdown,
    BreakdownMismatch,
    FixedChargeLine,
    TaxLine,
)
from gridvend.kernel.tariffs import EnergyBlock, TariffSpec
from gridvend.kernel.tokens import IssuedToken, MeterKeyRef
from gridvend.keys.engine import SoftwareStsEngine, engine_or_default
from gridvend.keys.errors import TokenRefused
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter, MeterStatus
from gridvend.meters.selectors import meter_key_ref
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.sts import tokens as sts_tokens
from gridvend.sts.errors import StsError
from gridvend.tariffs.models import TariffVersion, VersionStatus
from gridvend.tariffs.selectors import spec_of_version
from gridvend.vending.errors import OfflineSaleInvalid
from gridvend.vending.locks import open_debts
from gridvend.vending.models import Sale, SaleKind, SaleStatus, Shift, Token, TokenKind
from gridvend.vending.services._sale import (
    SaleResult,
    _month,
    _PendingSale,
    _Plan,
    _PlannedToken,
    _write_sale,
    _write_sales,
)
from gridvend.vending.services.credit import PAYMENT_METHODS

OFFLINE_TOKEN_KINDS = frozenset({TokenKind.CREDIT, TokenKind.FBE})

# The tenders an offline station's cashier takes: the counter's, less the wallet and a float.
OFFLINE_TENDERS = frozenset(m for m in PAYMENT_METHODS if m not in ("wallet", "float"))


@dataclass(frozen=True)
class OfflineFinding:
    """Something that changed on the master while the station sold (a conflict kind of
    ``stations.models.ConflictKind`` and what was found)."""

    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class OfflineSaleResult:
    sale: Sale
    tokens: list[Token]
    findings: list[OfflineFinding] = field(default_factory=list)


@dataclass
class _OfflinePlan(_Plan):
    """The station's breakdown over the master's open debts: recovery beyond what the debts
    hold is not taken from any debt (``unallocated_minor``, flagged as ``debt_changed``)."""

    unallocated_minor: int = 0

    def allocate_debt_recovery(self) -> None:
        remaining = self.breakdown.debt_recovered.minor
        self.allocations = []
        for debt in self.debts:
            if remaining <= 0:
                break
            take = min(remaining, debt.balance_minor)
            self.allocations.append((debt.pk, take))
            remaining -= take
        self.unallocated_minor = remaining

    def debt_balance_after(self) -> Money:
        owed = sum(d.balance_minor for d in self.debts)
        taken = sum(take for _pk, take in self.allocations)
        return Money(owed - taken, self.breakdown.currency)


def _bad(data: dict[str, Any], problem: str) -> OfflineSaleInvalid:
    return OfflineSaleInvalid(reference=str(data.get("reference", ""))[:40], problem=problem)


def _int(data: dict[str, Any], name: str, *, low: int = 0, high: int = 10**15) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(data, f"{name} is not a whole number in range")
    return value


def _text(data: dict[str, Any], name: str, *, high: int = 64, blank: bool = False) -> str:
    value = data.get(name)
    if value is None and blank:
        return ""
    if not isinstance(value, str) or len(value) > high or (not value and not blank):
        raise _bad(data, f"{name} is not a short text")
    return value


def _decimal(data: dict[str, Any], value: object, name: str) -> Decimal:
    if not isinstance(value, str) or len(value) > 24:
        raise _bad(data, f"{name} is not a decimal")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _bad(data, f"{name} is not a decimal") from None
    if not number.is_finite() or number < 0:
        raise _bad(data, f"{name} is not a decimal")
    return number


def breakdown_from_record(data: dict[str, Any]) -> Breakdown:
    """The sale's breakdown as the station stored it (``Breakdown.to_dict``), checked by the
    breakdown's own identities and against the sale's own totals."""
    raw = data.get("breakdown")
    if not isinstance(raw, dict):
        raise _bad(data, "the breakdown is missing")
    cur = _text(raw, "currency", high=3)

    def money(row: dict[str, Any], name: str) -> Money:
        return Money(_int(row, name, low=0), cur)

    def rows_of(name: str) -> list[dict[str, Any]]:
        value = raw.get(name)
        if (
            not isinstance(value, list)
            or len(value) > 50
            or not all(isinstance(r, dict) for r in value)
        ):
            raise _bad(data, f"the breakdown's {name} are not a list")
        return cast(list[dict[str, Any]], value)

    try:
        paid = raw.get("fixed_charges_paid_through")
        breakdown = Breakdown(
            tender=money(raw, "tender_minor"),
            fixed_charges=tuple(
                FixedChargeLine(
                    name=_text(r, "name", high=120),
                    period=cast(Any, _text(r, "period", high=8)),
                    periods=_int(r, "periods", high=1000),
                    amount=money(r, "amount_minor"),
                )
                for r in rows_of("fixed_charges")
            ),
            fixed_charges_total=money(raw, "fixed_charges_total_minor"),
            fixed_charges_net=money(raw, "fixed_charges_net_minor"),
            debt_recovered=money(raw, "debt_recovered_minor"),
            taxes=tuple(
                TaxLine(
                    code=_text(r, "code", high=40),
                    rate=_decimal(data, r.get("rate"), "tax rate"),
                    inclusive=bool(r.get("inclusive")),
                    base=money(r, "base_minor"),
                    amount=money(r, "amount_minor"),
                    energy_amount=money(r, "energy_amount_minor"),
                    fixed_amount=money(r, "fixed_amount_minor"),
                )
                for r in rows_of("taxes")
            ),
            energy_at_rates=money(raw, "energy_at_rates_minor"),
            energy_net=money(raw, "energy_net_minor"),
            blocks=tuple(
                BlockLine(
                    index=_int(r, "index", high=100),
                    kwh=_decimal(data, r.get("kwh"), "block kWh"),
                    rate=_decimal(data, r.get("rate"), "block rate"),
                    money=money(r, "money_minor"),
                )
                for r in rows_of("blocks")
            ),
            priced_kwh=_decimal(data, raw.get("priced_kwh"), "priced kWh"),
            kwh=_decimal(data, raw.get("kwh"), "kWh"),
            fbe_kwh=_decimal(data, raw.get("fbe_kwh"), "FBE kWh"),
            month_to_date_kwh_before=_decimal(
                data, raw.get("month_to_date_kwh_before"), "month to date kWh"
            ),
            fixed_charges_paid_through=None if paid is None else date.fromisoformat(str(paid)),
        )
    except (BreakdownMismatch, ValueError, TypeError) as wrong:
        if isinstance(wrong, OfflineSaleInvalid):
            raise
        raise _bad(data, f"the breakdown does not add up ({str(wrong)[:120]})") from None
    totals = {
        "tender_minor": breakdown.tender.minor,
        "debt_recovered_minor": breakdown.debt_recovered.minor,
        "fixed_charges_minor": breakdown.fixed_charges_net.minor,
        "tax_minor": breakdown.tax_total.minor,
        "energy_minor": breakdown.energy_net.minor,
    }
    for name, value in totals.items():
        if data.get(name) != value:
            raise _bad(data, f"{name} is not the breakdown's")
    if data.get("currency") != cur:
        raise _bad(data, "the currency is not the breakdown's")
    return breakdown


# What a sale entry journals of the key it sold under (``key``): every parameter the decoder
# key depends on. Entries journalled before carry SGC, TI and KRN only.
KEY_FIELDS = ("sgc", "ti", "krn", "kt", "ken", "ea", "dkga", "base_date_year", "key_ref")
_LEGACY_KEY_FIELDS = ("sgc", "ti", "krn")


def _same(value: object, known: object) -> bool:
    # ``True == 1``: a bool is no TI or KRN.
    return type(value) is type(known) and value == known


def _earlier_keys(meter: Meter) -> list[MeterKeyRef]:
    """The keys the meter had before its issued key changes, newest first (the history kept
    with each key change; nothing else is a key the meter ever had)."""
    earlier = []
    for params in (
        KeyChange.objects.filter(meter=meter, status=KeyChangeStatus.ISSUED)
        .order_by("-issued_at", "-id")
        .values_list("old_params", flat=True)
    ):
        try:
            earlier.append(MeterKeyRef(**{**params, "meter_number": meter.number}))
        except (TypeError, ValueError):
            continue
    return earlier


def _offline_key(meter: Meter, data: dict[str, Any], tokens: list[dict[str, Any]]) -> MeterKeyRef:
    """The key the station sold under, as its entry journals it: the meter's current key, or
    one the meter had before a key change issued on the master since (a ``key_changed``
    finding for the caller). A key the meter never had is refused: the entry's tokens are not
    decoded under whatever key the entry names. An entry that journals only SGC, TI and KRN
    (older stations) is matched on those, and on the key reference its tokens name."""
    key = data.get("key")
    if not isinstance(key, dict) or not set(_LEGACY_KEY_FIELDS) <= set(key):
        raise _bad(data, "the key is missing")
    full = set(KEY_FIELDS) <= set(key)
    token_ref = tokens[0].get("key_ref") if tokens and isinstance(tokens[0], dict) else None

    def matches(known: MeterKeyRef) -> bool:
        if full:
            return all(_same(key[name], getattr(known, name)) for name in KEY_FIELDS)
        return all(_same(key[name], getattr(known, name)) for name in _LEGACY_KEY_FIELDS) and (
            not token_ref or token_ref == known.key_ref
        )

    current = meter_key_ref(meter)
    if matches(current):
        return current
    for earlier in _earlier_keys(meter):
        if matches(earlier):
            return earlier
    raise _bad(data, "the key is not one the meter has had")


def key_wire(key: MeterKeyRef) -> dict[str, Any]:
    """A sale entry's ``key``: the full key it was sold under (``KEY_FIELDS``)."""
    return {name: getattr(key, name) for name in KEY_FIELDS}


def _issued(
    data: dict[str, Any],
    meter: Meter,
    key_ref: MeterKeyRef,
    engine: Any,
    decoders: dict[tuple[int, MeterKeyRef], Any] | None = None,
) -> list[_PlannedToken]:
    """The entry's tokens, each decoded with the meter's key: class, TID and amount must be
    what the entry says, or the sale is not recorded. ``decoders``: the decoder keys a batch
    loaded already, by engine and key (a batch sells to each meter many times)."""
    raw = data.get("tokens")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 4:
        raise _bad(data, "the tokens are missing")
    known = (id(engine), key_ref)
    decoder = decoders.get(known) if decoders is not None else None
    if decoder is None:
        try:
            decoder = engine.decoder_key(key_ref) if hasattr(engine, "decoder_key") else None
        except TokenRefused:
            raise _bad(data, "the meter's key cannot be loaded") from None
        if decoder is None:
            decoder = SoftwareStsEngine().decoder_key(key_ref)
        if decoders is not None:
            decoders[known] = decoder
    planned: list[_PlannedToken] = []
    for index, token in enumerate(raw, start=1):
        if not isinstance(token, dict):
            raise _bad(data, "a token is not an object")
        kind = _text(token, "kind", high=20)
        if kind not in OFFLINE_TOKEN_KINDS or _int(token, "sequence", high=10) != index:
            raise _bad(data, "a token is not a credit token in order")
        digits = _text(token, "digits", high=20)
        tid = _int(token, "tid", high=0xFFFFFF)
        units = _decimal(data, token.get("units"), "token units")
        try:
            decoded = sts_tokens.decode(digits, decoder[0], decoder[1])
        except (StsError, ValueError):
            raise _bad(data, f"token {index} does not decode") from None
        if (
            not decoded.crc_ok
            or decoded.token_class != 0
            or decoded.token_class != token.get("token_class")
            or decoded.subclass != token.get("subclass")
            or decoded.tid != tid
            or decoded.amount is None
            or decoded.amount.quantize(Decimal("0.1")) != units
        ):
            raise _bad(data, f"token {index} does not decode as recorded")
        issued = IssuedToken(
            digits=digits,
            token_class=decoded.token_class,
            subclass=decoded.subclass,
            tid=tid,
            units=units,
            description=_text(token, "description", high=120, blank=True),
        )
        planned.append(_PlannedToken(kind, issued=issued, needs_tid=False))
    # A meter takes a TID once: two tokens of one sale under one TID are no sale a station
    # makes (and would break the tokens' one-TID-per-meter rule when written).
    tids = [p.issued.tid for p in planned if p.issued is not None]
    if len(set(tids)) != len(tids):
        raise _bad(data, "two tokens of the sale carry the same TID")
    return planned


def _check_token_energy(
    data: dict[str, Any], planned: list[_PlannedToken], breakdown: Breakdown
) -> None:
    """The tokens carry the energy the sale priced, as a credit sale makes them: one credit
    token of the breakdown's kWh, and an FBE token of its FBE kWh when it has any (each as the
    token carries it). A token of more energy than was paid for is no sale to record."""
    credit = [p.issued for p in planned if p.kind == TokenKind.CREDIT and p.issued is not None]
    fbe = [p.issued for p in planned if p.kind == TokenKind.FBE and p.issued is not None]
    if len(credit) != 1 or credit[0].units != breakdown.kwh:
        raise _bad(data, "the credit token does not carry the kWh the sale priced")
    wanted_fbe = token_kwh(breakdown.fbe_kwh) if breakdown.fbe_kwh > 0 else None
    if [t.units for t in fbe] != ([wanted_fbe] if wanted_fbe is not None else []):
        raise _bad(data, "the FBE token does not carry the sale's FBE kWh")


@dataclass
class OfflineBatch:
    """What a batch of offline sales reads once instead of once a sale: its customers, then
    its meters, locked (in that order, as every sale locks them: vending.locks), the tariff
    versions, who has open debts, the TIDs and references already used. Sales recorded with
    it keep it up to date; ``finish`` writes each meter's newest TID once."""

    customers: dict[str, Customer]
    meters: dict[str, Meter]
    versions: dict[int, TariffVersion]
    published: dict[int, list[TariffVersion]]
    with_debts: set[int]
    used_tids: set[tuple[int, int | None, int | None]]
    used_references: set[str]
    newest_tid: dict[int, int] = field(default_factory=dict)
    # (customer id, business month) -> the master's sales of that month for the customer, as
    # (created_at, priced kWh counted through the blocks, FBE kWh); the batch's own sales are
    # added as they are recorded, so a later entry of the batch sees the earlier ones.
    month_sales: dict[tuple[int, str], list[tuple[datetime, Decimal, Decimal]]] = field(
        default_factory=dict
    )
    # (customer id, business month) -> (priced kWh, FBE kWh) of the master's sales of that month
    # dated before the batch's first sale, summed once.
    month_base: dict[tuple[int, str], tuple[Decimal, Decimal]] = field(default_factory=dict)

    def month_before(self, customer_id: int, month: str, at: datetime) -> tuple[Decimal, Decimal]:
        """The customer's kWh priced through the blocks and FBE kWh issued in ``month`` by the
        sales the master holds dated before ``at`` (what ``vending.locks.read_sale_context``
        would have counted had the sale been made on the master then)."""
        kwh, fbe = self.month_base.get((customer_id, month), (Decimal(0), Decimal(0)))
        for created_at, priced, free in self.month_sales.get((customer_id, month), []):
            if created_at < at:
                kwh += priced
                fbe += free
        return kwh, fbe

    # What ``add`` prepared and ``write`` writes; the open debts of its customers, read (and
    # locked) once, as its sales added so far leave them.
    prepared: list[PreparedOfflineSale] = field(default_factory=list)
    debts: dict[int, list[Debt]] | None = None
    # Decoder keys loaded for the batch's sales, by engine and meter key (``_issued``).
    decoders: dict[tuple[int, MeterKeyRef], Any] = field(default_factory=dict)

    def add(
        self,
        *,
        actor: User,
        vending_point: VendingPoint,
        record: dict[str, Any],
        fingerprint: str,
        org_unit: OrgUnit,
        shift: Shift | None = None,
        engine: Any = None,
    ) -> PreparedOfflineSale:
        """Check and price ``record`` as ``record_offline_sale`` does (refused the same way,
        the same findings) and keep it for ``write``; nothing is written yet."""
        if self.debts is None:
            self.debts = {}
            for debt in (
                Debt.objects.select_for_update()
                .filter(customer_id__in=sorted(self.with_debts), balance_minor__gt=0)
                .order_by("opened_at", "id")
            ):
                self.debts.setdefault(debt.customer_id, []).append(debt)
        prepared = _prepare_sale(
            actor=actor,
            vending_point=vending_point,
            data=record,
            fingerprint=fingerprint,
            org_unit=org_unit,
            shift=shift,
            engine=engine,
            batch=self,
            debts=self.debts,
        )
        prepared.findings.extend(_debt_findings(cast(_OfflinePlan, prepared.pending.plan)))
        self.prepared.append(prepared)
        return prepared

    def write(self) -> list[OfflineSaleResult]:
        """Write every sale ``add`` kept, in order, together (``_sale._write_sales``): the
        rows each would have written alone; then each meter's newest TID (``finish``)."""
        pending, self.prepared = self.prepared, []
        written = _write_sales([p.pending for p in pending])
        self.finish()
        return [
            OfflineSaleResult(result.sale, result.tokens, p.findings)
            for p, result in zip(pending, written, strict=True)
        ]

    def in_force(self, tariff_id: int, at: datetime) -> TariffVersion | None:
        """``tariffs.selectors.version_in_force`` over the versions read once."""
        for version in self.published.get(tariff_id, []):
            if version.effective_from is not None and version.effective_from <= at:
                return version
        return None

    def finish(self) -> None:
        with rows.cursor() as cursor:
            for meter_id, tid in sorted(self.newest_tid.items()):
                cursor.execute(
                    "UPDATE meters_meter SET last_tid = %s "
                    "WHERE id = %s AND (last_tid IS NULL OR last_tid < %s)",
                    [tid, meter_id, tid],
                )
        self.newest_tid.clear()


def _strings(records: list[dict[str, Any]], name: str) -> list[str]:
    return sorted({r[name] for r in records if isinstance(r.get(name), str) and len(r[name]) < 64})


def prepare_offline_batch(
    *, vending_point: VendingPoint, records: list[dict[str, Any]]
) -> OfflineBatch:
    """Read and lock, once, what ``records`` (sale entries' data) need; inside the caller's
    transaction."""
    accounts = _strings(records, "customer")
    customers = {
        c.account_number: c
        for c in Customer.objects.select_for_update(of=("self",))
        .filter(account_number__in=accounts)
        .order_by("pk")
    }
    meters = {
        m.number: m
        for m in Meter.objects.select_for_update(of=("self",))
        .select_related("org_unit", "customer")
        .filter(number__in=_strings(records, "meter"))
        .order_by("pk")
    }
    version_ids = {r["tariff_version"] for r in records if isinstance(r.get("tariff_version"), int)}
    versions = {v.pk: v for v in TariffVersion.objects.filter(pk__in=version_ids)}
    published: dict[int, list[TariffVersion]] = {}
    tariffs = {c.tariff_id for c in customers.values()}
    for version in TariffVersion.objects.filter(
        tariff_id__in=tariffs, status=VersionStatus.PUBLISHED
    ).order_by("-effective_from", "-number"):
        published.setdefault(version.tariff_id, []).append(version)
    with_debts = set(
        Debt.objects.filter(customer__in=list(customers.values()), balance_minor__gt=0)
        .values_list("customer_id", flat=True)
        .distinct()
    )
    tids = {
        t.get("tid")
        for r in records
        if isinstance(r.get("tokens"), list)
        for t in r["tokens"]
        if isinstance(t, dict) and isinstance(t.get("tid"), int)
    }
    used_tids = set(
        Token.objects.filter(meter__in=list(meters.values()), tid__in=tids).values_list(
            "meter_id", "tid_base_year", "tid"
        )
    )
    used_references = set(
        Sale.objects.filter(
            vending_point=vending_point, client_reference__in=_strings(records, "reference")
        ).values_list("client_reference", flat=True)
    )
    result = OfflineBatch(
        customers, meters, versions, published, with_debts, used_tids, used_references
    )
    months: set[str] = set()
    moments: list[datetime] = []
    for r in records:
        try:
            moment = _moment(r, "created_at")
        except OfflineSaleInvalid:
            continue  # refused when the sale itself is recorded
        moments.append(moment)
        months.add(_month(business_date(moment, settings.TIME_ZONE)))
    if moments and customers:
        # Two reads for the whole batch, whatever its size: the month's totals of its customers
        # up to its first sale, summed by the database, then the few sales since, one by one.
        # Priced kWh counts completed sales only, FBE every sale (as the sale's own read does).
        first = min(moments)
        sales = Sale.objects.filter(
            customer__in=list(customers.values()), business_month__in=sorted(months)
        )
        completed = Q(status=SaleStatus.COMPLETED)
        for customer_id, month, priced, free in (
            sales.filter(created_at__lt=first)
            .order_by()
            .values("customer_id", "business_month")
            .annotate(priced=Sum("priced_kwh", filter=completed), free=Sum("fbe_kwh"))
            .values_list("customer_id", "business_month", "priced", "free")
        ):
            result.month_base[(customer_id, month)] = (
                _exact(priced, 6),
                _exact(free, 1),
            )
        since = sales.filter(created_at__gte=first).values_list(
            "customer_id", "business_month", "created_at", "status", "priced_kwh", "fbe_kwh"
        )
        for customer_id, month, created_at, status, priced, free in since:
            result.month_sales.setdefault((customer_id, month), []).append(
                (
                    created_at,
                    priced if status == SaleStatus.COMPLETED else Decimal(0),
                    free or Decimal(0),
                )
            )
    return result


def _exact(value: Any, places: int) -> Decimal:
    # SQLite sums decimals as floats; the column's scale makes them exact again.
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def _blocks_walked(blocks: tuple[EnergyBlock, ...], start: Decimal, kwh: Decimal) -> list[Any]:
    """``[(block index, kWh)]`` that ``kwh`` priced kWh fill from the month's ``start``."""
    walked: list[Any] = []
    position, remaining = start, kwh
    for index, block in enumerate(blocks):
        if remaining <= 0:
            break
        upper = block.upper_kwh
        if upper is not None and position >= upper:
            continue
        take = remaining if upper is None else min(remaining, upper - position)
        walked.append((index, take))
        position += take
        remaining -= take
    return walked


def _month_totals_finding(
    batch: OfflineBatch,
    customer: Customer,
    spec: TariffSpec,
    breakdown: Breakdown,
    created_at: datetime,
) -> OfflineFinding | None:
    """The month's totals on the master against those the station priced with: a sale
    priced in other blocks than the master's sales of the month before it give, or a second
    FBE token in a month the master had already issued one, is a ``month_totals_changed``
    finding with both figures. The sale stands as the station priced it."""
    month = _month(business_date(created_at, settings.TIME_ZONE))
    master_kwh, master_fbe = batch.month_before(customer.pk, month, created_at)
    station = [(b.index, b.kwh) for b in breakdown.blocks if b.kwh > 0]
    master = _blocks_walked(spec.blocks, master_kwh, breakdown.priced_kwh)
    fbe_twice = breakdown.fbe_kwh > 0 and master_fbe > 0
    if station == master and not fbe_twice:
        return None

    def shown(walked: list[Any]) -> list[dict[str, Any]]:
        return [{"block": index, "kwh": str(kwh)} for index, kwh in walked]

    return OfflineFinding(
        "month_totals_changed",
        {
            "month": month,
            "station": {
                "kwh_before": str(breakdown.month_to_date_kwh_before),
                "blocks": shown(station),
                "fbe_kwh": str(breakdown.fbe_kwh),
            },
            "master": {
                "kwh_before": str(master_kwh),
                "blocks": shown(master),
                "fbe_kwh_before": str(master_fbe),
            },
        },
    )


def record_offline_sale(
    *,
    actor: User,
    vending_point: VendingPoint,
    record: dict[str, Any],
    fingerprint: str,
    org_unit: OrgUnit,
    shift: Shift | None = None,
    engine: Any = None,
    batch: OfflineBatch | None = None,
) -> OfflineSaleResult:
    """Write the station's credit sale ``record`` (a ``sale`` journal entry's data) as a sale
    of ``vending_point`` by ``actor``, inside the caller's transaction. ``org_unit``: the
    station's unit (a meter moved out of it meanwhile is a finding). ``fingerprint``: the
    journal entry's hash. ``batch``: what a batch of them read once (``prepare_offline_batch``);
    without it the sale reads its own and writes its meter's TID itself. Refused
    (OFFLINE_SALE_INVALID) only when the record cannot be written as it says; what changed
    meanwhile comes back as findings. A batch's sales are written together by
    ``OfflineBatch.add`` and ``OfflineBatch.write`` instead: the same rows, fewer statements."""
    alone = batch is None
    batch = batch or prepare_offline_batch(vending_point=vending_point, records=[record])
    prepared = _prepare_sale(
        actor=actor,
        vending_point=vending_point,
        data=record,
        fingerprint=fingerprint,
        org_unit=org_unit,
        shift=shift,
        engine=engine,
        batch=batch,
        debts=None,
    )
    p = prepared.pending
    result: SaleResult = _write_sale(
        actor=p.actor,
        kind=p.kind,
        meter=p.meter,
        customer=p.customer,
        point=p.point,
        client_reference=p.client_reference,
        fingerprint=p.fingerprint,
        planned=p.planned,
        engine=engine_or_default(engine),
        now=p.now,
        key_ref=p.key_ref,
        plan=p.plan,
        payment_method=p.payment_method,
        shift_id=p.shift_id,
        payment_reference=p.payment_reference,
        cash_received=p.cash_received,
    )
    findings = [*prepared.findings, *_debt_findings(cast(_OfflinePlan, p.plan))]
    if alone:
        batch.finish()
    return OfflineSaleResult(result.sale, result.tokens, findings)


@dataclass
class PreparedOfflineSale:
    """A station's sale checked and priced as recorded, its findings known, not yet written
    (``OfflineBatch.add``); ``OfflineBatch.write`` writes it with the rest of its batch."""

    pending: _PendingSale
    findings: list[OfflineFinding]

    @property
    def tender_minor(self) -> int:
        return self.pending.plan.breakdown.tender.minor

    @property
    def created_at(self) -> datetime:
        return self.pending.now


def _debt_findings(plan: _OfflinePlan) -> list[OfflineFinding]:
    if not plan.unallocated_minor:
        return []
    recovered = plan.breakdown.debt_recovered
    return [
        OfflineFinding(
            "debt_changed",
            {
                "recovered_minor": recovered.minor,
                "held_minor": recovered.minor - plan.unallocated_minor,
                "unallocated_minor": plan.unallocated_minor,
                "currency": recovered.currency,
            },
        )
    ]


def _prepare_sale(
    *,
    actor: User,
    vending_point: VendingPoint,
    data: dict[str, Any],
    fingerprint: str,
    org_unit: OrgUnit,
    shift: Shift | None,
    engine: Any,
    batch: OfflineBatch,
    debts: dict[int, list[Debt]] | None,
) -> PreparedOfflineSale:
    """Every check of ``record_offline_sale`` and the sale it would write. ``debts``: the
    batch's open debts by customer, as its earlier sales leave them (read and locked once);
    None: the customer's are read (and locked) now. Keeps ``batch`` up to date (references,
    TIDs used, each meter's newest TID)."""
    reference = _text(data, "reference", high=24)
    if data.get("kind") != SaleKind.CREDIT:
        raise _bad(data, "only credit sales are recorded offline")
    number = _text(data, "meter", high=13)
    account = _text(data, "customer", high=40)
    customer = batch.customers.get(account)
    if customer is None:
        raise _bad(data, "the customer is not known here")
    meter = batch.meters.get(number)
    if meter is None:
        raise _bad(data, "the meter is not known here")
    if reference in batch.used_references:
        raise _bad(data, "the sale's reference was used before")
    breakdown = breakdown_from_record(data)
    created_at = _moment(data, "created_at")
    tokens = data.get("tokens")
    key_ref = _offline_key(meter, data, tokens if isinstance(tokens, list) else [])
    # A TID counts minutes from the key's base date: a sale dated before it (or far beyond
    # today) is no sale a meter could take.
    if created_at < datetime(key_ref.base_date_year, 1, 1, tzinfo=UTC):
        raise _bad(data, "the sale is dated before the meter's key base date")
    findings: list[OfflineFinding] = []
    if meter.status == MeterStatus.BLOCKED:
        findings.append(
            OfflineFinding("meter_blocked", {"meter": meter.number, "reason": meter.block_reason})
        )
    moved = not (
        meter.org_unit.path == org_unit.path or meter.org_unit.path.startswith(org_unit.path + "/")
    )
    if meter.status == MeterStatus.RETIRED or moved or meter.customer_id != customer.pk:
        findings.append(
            OfflineFinding(
                "meter_retired",
                {
                    "meter": meter.number,
                    "status": meter.status,
                    "unit": meter.org_unit.path,
                    "customer_now": meter.customer.account_number if meter.customer else None,
                },
            )
        )
    version = batch.versions.get(_int(data, "tariff_version", low=1))
    if version is None:
        raise _bad(data, "the tariff version is not known here")
    in_force = batch.in_force(customer.tariff_id, created_at)
    if in_force is None or in_force.pk != version.pk:
        findings.append(
            OfflineFinding(
                "tariff_changed",
                {"sold_with": version.pk, "in_force": in_force.pk if in_force else None},
            )
        )
    current_key = meter_key_ref(meter)
    if key_ref != current_key:
        findings.append(
            OfflineFinding(
                "key_changed",
                {"sold_with": key_wire(key_ref), "meter_now": key_wire(current_key)},
            )
        )
    planned = _issued(data, meter, key_ref, engine_or_default(engine), batch.decoders)
    _check_token_energy(data, planned, breakdown)
    tids = [p.issued.tid for p in planned if p.issued is not None and p.issued.tid is not None]
    # The TIDs the meter's tokens hold already under this key: read once for the batch
    # (``prepare_offline_batch``), kept up to date as its sales are recorded.
    clashes = {t for t in tids if (meter.pk, key_ref.base_date_year, t) in batch.used_tids}
    if clashes:
        findings.append(
            OfflineFinding("tid_clash", {"meter": meter.number, "tids": sorted(clashes)})
        )
        # The token row keeps the customer's digits but no TID: the meter will refuse it (the
        # TID is used), the sale and its money stand and the customer needs a replacement.
        planned = [
            _PlannedToken(
                p.kind,
                issued=IssuedToken(
                    digits=p.issued.digits,
                    token_class=p.issued.token_class,
                    subclass=p.issued.subclass,
                    tid=None,
                    units=p.issued.units,
                    description=p.issued.description,
                ),
                needs_tid=False,
            )
            if p.issued is not None and p.issued.tid in clashes
            else p
            for p in planned
        ]
    open_now: list[Debt] = []
    if customer.pk in batch.with_debts:
        if debts is None:
            open_now = list(open_debts(customer, lock=True))
        else:
            # The debts as this sale would read them: a copy of each, so that what the sale
            # takes (moved on the batch's own below) leaves the sale's view as it was.
            open_now = [copy.copy(d) for d in debts.get(customer.pk, []) if d.balance_minor > 0]
    plan_debts = [d for d in open_now if d.currency == breakdown.currency]
    version_obj, spec = spec_of_version(version.pk, str(version.approved_at))
    month_finding = _month_totals_finding(batch, customer, spec, breakdown, created_at)
    if month_finding is not None:
        findings.append(month_finding)
    plan = _OfflinePlan(meter, customer, version_obj, spec, breakdown, plan_debts)
    payment_method = _text(data, "payment_method", high=20)
    # What a station's till takes: never the customer's prepaid wallet, which lives on the
    # master (an entry naming it would spend the wallet from a sale the master never priced).
    if payment_method not in OFFLINE_TENDERS:
        raise _bad(data, "a station does not take this tender")
    cash = data.get("cash_received_minor")
    pending = _PendingSale(
        actor=actor,
        kind=SaleKind.CREDIT,
        meter=meter,
        customer=customer,
        point=vending_point,
        client_reference=reference,
        fingerprint=fingerprint,
        planned=planned,
        now=created_at,
        key_ref=key_ref,
        plan=plan,
        payment_method=payment_method,
        shift_id=shift.pk if shift is not None else None,
        payment_reference=_text(data, "payment_reference", high=64, blank=True) or None,
        cash_received=Money(_int(data, "cash_received_minor"), breakdown.currency)
        if cash is not None
        else None,
    )
    if debts is not None:
        plan.allocate_debt_recovery()
        taken = dict(plan.allocations)
        for debt in debts.get(customer.pk, []):
            debt.balance_minor -= taken.get(debt.pk, 0)
    batch.used_references.add(reference)
    batch.month_sales.setdefault(
        (customer.pk, _month(business_date(created_at, settings.TIME_ZONE))), []
    ).append((created_at, breakdown.priced_kwh, breakdown.fbe_kwh))
    batch.used_tids.update((meter.pk, key_ref.base_date_year, t) for t in tids if t not in clashes)
    # The meter's last TID counts from its current base date; one sold under an earlier base
    # date is no count of it.
    same_count = key_ref.base_date_year == current_key.base_date_year
    if tids and same_count and (meter.last_tid is None or max(tids) > meter.last_tid):
        meter.last_tid = max(tids)
        batch.newest_tid[meter.pk] = meter.last_tid
    return PreparedOfflineSale(pending, findings)


# The years a station's times may name (STS base dates are 1993, 2014 and 2035).
_EARLIEST_YEAR = 1900
_LATEST_YEAR = 2999


def _moment(data: dict[str, Any], name: str) -> datetime:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > 40:
        raise _bad(data, f"{name} is not a time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(data, f"{name} is not a time") from None
    if moment.tzinfo is None:
        raise _bad(data, f"{name} has no time zone")
    # A time at the calendar's edge (year 1 or 9999) overflows once moved to UTC or to the
    # business time zone: no sale a meter could take, refused like any other unreadable time.
    if not _EARLIEST_YEAR <= moment.year <= _LATEST_YEAR:
        raise _bad(data, f"{name} is not a time")
    return ensure_utc(moment)


__all__ = [
    "OfflineBatch",
    "OfflineFinding",
    "OfflineSaleResult",
    "PreparedOfflineSale",
    "breakdown_from_record",
    "prepare_offline_batch",
    "record_offline_sale",
]
