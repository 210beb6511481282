"""The shared sale machinery: pricing a sale, the checks every use case makes, and writing
a sale with its tokens, journal entry and audit event."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from gridvend import rows
from gridvend.audit import context as request_context
from gridvend.audit.services import Pending, record, record_many
from gridvend.customers.models import Customer, CustomerStatus, Debt
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import (
    DomainError,
    InvalidAmount,
    MeterBlocked,
    MeterRetired,
    TariffNotFound,
    TenderBelowChargesDue,
)
from gridvend.kernel.ledger import JournalDraft, SaleAccounts, credit_sale_journal
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import (
    Breakdown,
    SaleContext,
    fixed_charges_due,
    price_by_energy,
    price_by_tender,
)
from gridvend.kernel.tariffs import TariffSpec
from gridvend.kernel.tokens import IssuedToken, MeterKeyRef, TokenEngine, allocate_tids
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import JournalLine, draft_lines
from gridvend.ledger.models import JournalEntry
from gridvend.meters.errors import MeterNotInstalled
from gridvend.meters.models import Meter, MeterStatus
from gridvend.meters.selectors import find_meter, meter_digits
from gridvend.org.models import Channel, VendingPoint, VendingPointStatus
from gridvend.org.permissions import ip_allowed
from gridvend.tariffs.models import TariffVersion
from gridvend.tariffs.selectors import spec_of_version
from gridvend.vending import sale_hooks
from gridvend.vending.errors import (
    CustomerNotActive,
    MeterFaulty,
    VendingPointAddressRefused,
    VendingPointInactive,
)
from gridvend.vending.events import sale_created
from gridvend.vending.integrity.sales import sale_binding
from gridvend.vending.locks import (
    FreeIssueWanted,
    SaleReads,
    ShiftWanted,
    lock_customer_and_meter,
    lock_meter_for_sale,
    open_debts,
    read_sale_context,
)
from gridvend.vending.models import Sale, Token, TokenKind
from gridvend.vending.selectors import float_account_code

# What a key change rewrites on the meter.
KEY_COLUMNS = ("sgc", "ti", "krn", "kt", "ken", "ea", "dkga", "base_date_year", "key_ref")

# Tokens whose units are energy the meter adds to its credit register.
ENERGY_TOKEN_KINDS = frozenset(
    {TokenKind.CREDIT, TokenKind.FBE, TokenKind.FREE_ISSUE, TokenKind.CREDIT_TRANSFER}
)


@dataclass(frozen=True)
class SaleResult:
    sale: Sale
    tokens: list[Token]
    replayed: bool = False


@dataclass(frozen=True)
class Quote:
    """A trial vend: the full breakdown and the tokens a sale would carry; nothing written."""

    meter: Meter
    customer: Customer
    tariff_version: TariffVersion
    breakdown: Breakdown
    key_change_pending: bool
    token_count: int


@dataclass
class _Plan:
    meter: Meter
    customer: Customer
    version: TariffVersion
    spec: TariffSpec
    breakdown: Breakdown
    debts: list[Debt] = field(default_factory=list)
    # (debt id, minor units) taken from each debt, oldest first; kept on the sale for reversal.
    allocations: list[tuple[int, int]] = field(default_factory=list)

    def debt_balance_after(self) -> Money:
        """What the customer owes once this sale's debt recovery is taken."""
        owed = sum(d.balance_minor for d in self.debts)
        return Money(owed - self.breakdown.debt_recovered.minor, self.breakdown.currency)

    def allocate_debt_recovery(self) -> None:
        remaining = self.breakdown.debt_recovered.minor
        self.allocations = []
        for debt in self.debts:
            if remaining <= 0:
                break
            take = min(remaining, debt.balance_minor)
            self.allocations.append((debt.pk, take))
            remaining -= take
        if remaining:
            # Pricing never recovers more than the open balance; stop rather than lose money.
            raise RuntimeError("debt recovered exceeds the open debts")


# 32 letters and digits that cannot be misread for each other (no I, O, 0, 1).
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _new_reference() -> str:
    """S and eleven characters drawn uniformly from 32 (55 random bits, from one call)."""
    bits = secrets.randbits(55)
    return "S" + "".join(_REFERENCE_ALPHABET[(bits >> (5 * i)) & 31] for i in range(11))


def _check_point(actor: User, point: VendingPoint) -> None:
    require_unit_in_scope(actor, point.org_unit)
    if point.status != VendingPointStatus.ACTIVE:
        raise VendingPointInactive(vending_point=point.code)
    ip = request_context.current().ip
    if not ip_allowed(point, ip):
        raise VendingPointAddressRefused(vending_point=point.code)


def _check_meter_sellable(meter: Meter) -> Customer:
    if meter.status == MeterStatus.BLOCKED:
        raise MeterBlocked(meter_number=meter.number, reason=meter.block_reason or None)
    if meter.status == MeterStatus.RETIRED:
        raise MeterRetired(meter_number=meter.number)
    if meter.status == MeterStatus.FAULTY:
        raise MeterFaulty(meter_number=meter.number)
    customer = meter.customer
    if customer is None:
        raise MeterNotInstalled(meter_number=meter.number)
    if customer.status != CustomerStatus.ACTIVE:
        raise CustomerNotActive(account_number=customer.account_number)
    return customer


def sale_refusal(meter: Meter) -> DomainError | None:
    """Why no credit can be sold for this meter now (blocked, faulty, no active customer...),
    or None: screens use it to offer no amount form where a sale would only be refused."""
    try:
        _check_meter_sellable(meter)
    except DomainError as exc:
        return exc
    return None


def _month(day: Any) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _sale_context(
    customer: Customer, spec: TariffSpec, reads: SaleReads, today: Any, *, lock_debts: bool
) -> tuple[SaleContext, list[Debt]]:
    """What pricing needs to know about the customer, from the sale's one read; the open debts'
    rows are read (and locked, for a sale) only when the customer has any."""
    debts: list[Debt] = []
    if reads.open_debts:
        debts = [d for d in open_debts(customer, lock=lock_debts) if d.currency == spec.currency]
    ctx = SaleContext(
        customer_category=customer.category,
        month_to_date_kwh=reads.month_kwh,
        fixed_charges=(
            fixed_charges_due(spec, reads.paid_through, today) if spec.fixed_charges else None
        ),
        debt_balance=Money(sum(d.balance_minor for d in debts), spec.currency),
        debt_recovered_this_month=Money(reads.month_debt_recovered_minor, spec.currency),
        fbe_issued_this_month=bool(reads.month_fbe_kwh),
    )
    return ctx, debts


def _read(
    meter: Meter,
    customer: Customer | None,
    now: datetime,
    *,
    shift: ShiftWanted | None = None,
    free_issue: FreeIssueWanted | None = None,
) -> SaleReads:
    """The sale's one read after its locks (see ``vending.locks.read_sale_context``)."""
    return read_sale_context(
        customer_id=customer.pk if customer is not None else None,
        tariff_id=customer.tariff_id if customer is not None else None,
        meter_id=meter.pk,
        now=now,
        month=_month(business_date(now, settings.TIME_ZONE)),
        shift=shift,
        free_issue=free_issue,
    )


def _context(
    customer: Customer, spec: TariffSpec, today: Any, *, lock_debts: bool
) -> tuple[SaleContext, list[Debt]]:
    """The pricing context of a customer outside a sale (simulations, screens)."""
    reads = read_sale_context(
        customer_id=customer.pk,
        tariff_id=customer.tariff_id,
        meter_id=0,
        now=timezone.now(),
        month=_month(today),
    )
    return _sale_context(customer, spec, reads, today, lock_debts=lock_debts)


def _spec(reads: SaleReads) -> tuple[TariffVersion, TariffSpec]:
    if reads.version_id is None:
        raise TariffNotFound()
    return spec_of_version(reads.version_id, reads.version_key)


def _price(
    meter: Meter,
    customer: Customer,
    reads: SaleReads,
    *,
    tender: Money | None,
    kwh: Decimal | None,
    now: datetime,
    lock_debts: bool,
) -> _Plan:
    version, spec = _spec(reads)
    today = business_date(now, settings.TIME_ZONE)
    ctx, debts = _sale_context(customer, spec, reads, today, lock_debts=lock_debts)
    breakdown = _breakdown(spec, ctx, tender=tender, kwh=kwh)
    return _Plan(meter, customer, version, spec, breakdown, debts)


def _lock_meter(actor: User, meter_number: str) -> Meter:
    """The sale's meter with its customer, both locked, in one statement; where that finds
    nothing, the slower path that says why (unknown, out of scope, no customer installed)."""
    meter = lock_meter_for_sale(actor, meter_digits(meter_number))
    if meter is None:
        _customer, meter = lock_customer_and_meter(find_meter(actor, meter_number))
    return meter


def _breakdown(
    spec: TariffSpec, ctx: SaleContext, *, tender: Money | None, kwh: Decimal | None
) -> Breakdown:
    """The price of a sale for ``tender`` or for ``kwh`` under ``spec``: the one pricing step
    of sales, trial vends and simulations. Refuses a sale that buys no energy."""
    if tender is not None:
        breakdown = price_by_tender(spec, tender, ctx)
    else:
        assert kwh is not None
        breakdown = price_by_energy(spec, kwh, ctx)
        coin = int(settings.SMALLEST_COIN_MINOR)
        if breakdown.tender.minor % coin:
            # The exact price of the kWh asked for may be a sum no coin can pay: ask for the
            # next whole number of the smallest coin, and the extra buys energy (the token
            # carries at least what was asked for; nothing is kept back unrecorded).
            payable = -(-breakdown.tender.minor // coin) * coin
            breakdown = price_by_tender(spec, Money(payable, spec.currency), ctx)
    if breakdown.kwh <= 0:
        required = breakdown.tender + Money(1, spec.currency)
        raise TenderBelowChargesDue(required_minimum=required)
    return breakdown


def _validate_request(tender: Money | None, kwh: Decimal | None) -> None:
    if (tender is None) == (kwh is None):
        raise InvalidAmount(value="", reason="give either an amount of money or of energy")
    if tender is not None and not tender.is_positive():
        raise InvalidAmount(value=str(tender), reason="the amount must be more than zero")
    if kwh is not None and (not kwh.is_finite() or kwh <= 0):
        raise InvalidAmount(value=str(kwh), reason="the energy must be more than zero")


def _require_seller(actor: User) -> None:
    permissions.require_capability(actor, Capability.CASHIER)


@dataclass(frozen=True)
class _PlannedToken:
    kind: str
    issue: Callable[[int | None], IssuedToken] | None = None
    issued: IssuedToken | None = None  # for tokens made before TIDs (key changes)
    needs_tid: bool = True
    # The vending key that made it when not the sale's (a key change's tokens: the old key).
    made_with: str = ""


def _tid(tid: int | None) -> int:
    assert tid is not None
    return tid


def _write_sale(
    *,
    actor: User,
    kind: str,
    meter: Meter,
    customer: Customer | None,
    point: VendingPoint | None,
    client_reference: str,
    fingerprint: str,
    planned: list[_PlannedToken],
    engine: TokenEngine,
    now: datetime,
    key_ref: MeterKeyRef,
    plan: _Plan | None = None,
    payment_method: str = "",
    reason: str = "",
    currency: str = "",
    shift_id: int | None = None,
    payment_reference: str | None = None,
    cash_received: Money | None = None,
) -> SaleResult:
    """Issue tokens (TIDs above the meter's last), then write sale, tokens, journal and audit."""
    today = business_date(now, settings.TIME_ZONE)
    with_tid = [p for p in planned if p.needs_tid and p.issue is not None]
    tids = allocate_tids(
        meter.last_tid,
        engine.tid_for(key_ref, now),
        len(with_tid),
        ken=key_ref.ken,
        lanes=meter.org_unit.tid_lanes,
        lane=sale_hooks.tid_lane() if meter.org_unit.tid_lanes > 1 else 0,
    )
    tid_iter = iter(tids)
    issued: list[tuple[str, IssuedToken]] = []
    # Each token's vending key, kept on its row: the key usage counters (keys.selectors) are
    # read from the token rows, so a sale writes nothing more for them.
    made_with: list[str] = []
    for p in planned:
        if p.issued is not None:
            issued.append((p.kind, p.issued))
        else:
            assert p.issue is not None
            issued.append((p.kind, p.issue(next(tid_iter) if p.needs_tid else None)))
        token = issued[-1][1]
        # Class 1 (meter test) tokens are not encrypted: no key made them.
        made_with.append("" if token.token_class == 1 else (p.made_with or key_ref.key_ref))
    if any(p.kind == TokenKind.KEY_CHANGE for p in planned):
        # The meter now answers to the new key (and a roll-over cleared its TID memory).
        meter.last_tid = tids[-1] if tids else meter.last_tid
        meter.save(update_fields=[*KEY_COLUMNS, "last_tid"])
    elif tids:
        meter.last_tid = tids[-1]
        with rows.cursor() as cursor:
            # Every sale runs this; the ORM's update compiles for longer than it runs.
            cursor.execute(
                "UPDATE meters_meter SET last_tid = %s WHERE id = %s", [meter.last_tid, meter.pk]
            )
    b = plan.breakdown if plan is not None else None
    if plan is not None:
        plan.allocate_debt_recovery()
    entry = None
    draft: JournalDraft | None = None
    journal_lines: list[JournalLine] = []
    reference = _new_reference()
    if plan is not None and b is not None and customer is not None:
        _recover_debts(plan)
        assert point is not None
        draft = _sale_journal(plan, point, payment_method, customer, actor, reference)
        journal_lines = draft_lines(draft)
    sale = _sale_row(
        reference=reference,
        journal_entry=entry,
        kind=kind,
        point=point,
        client_reference=client_reference,
        fingerprint=fingerprint,
        actor=actor,
        shift_id=shift_id,
        meter=meter,
        customer=customer,
        plan=plan,
        currency=currency,
        issued=issued,
        reason=reason,
        payment_method=payment_method,
        payment_reference=payment_reference,
        cash_received=cash_received,
        key_ref=key_ref,
        now=now,
        today=today,
    )
    tokens = _token_rows(meter, issued, made_with, key_ref, now)
    digests: list[Any] = []

    def write_rows(journal_entry: JournalEntry | None) -> None:
        sale.journal_entry = journal_entry
        rows.insert([sale])
        for token in tokens:
            token.sale = sale
        rows.insert(tokens)
        # Binds the rows just written to the chain: an edit later no longer matches.
        digests.append(sale_binding(sale, tokens, journal_lines))

    if draft is not None:
        # The entry, then the rows that refer to it, then its postings: a posting to a float
        # locks the float's row until commit, so it comes as late as it can, with nothing but
        # the audit event after it (the float's other sales wait only that long).
        ledger.post_journal_entry(
            draft, kind="sale", business_date=today, actor=actor, before_postings=write_rows
        )
    else:
        write_rows(None)
    sale_hooks.run_sale_hooks(sale, tokens)
    record(
        actor=actor,
        event_type=sale_created(kind),
        target=sale,
        stream_key=meter.pk,
        after=_created_after(
            sale,
            issued,
            reason=reason,
            payment_reference=payment_reference,
            cash_received=cash_received,
            digests=digests[0],
        ),
    )
    return SaleResult(sale, tokens)


def _sale_journal(
    plan: _Plan,
    point: VendingPoint,
    payment_method: str,
    customer: Customer,
    actor: User,
    reference: str,
) -> JournalDraft:
    """The journal entry of a priced sale: where its money came from and where it went."""
    accounts = SaleAccounts(
        source=_source_account(point, payment_method, customer, holder=actor),
        energy_revenue=ledger.ENERGY_REVENUE,
        fixed_charge_revenue=ledger.FIXED_CHARGE_REVENUE,
        customer_debt=f"debt:{customer.account_number}",
        default_tax_payable=ledger.TAX_PAYABLE,
    )
    return credit_sale_journal(plan.breakdown, accounts, memo=f"sale {reference}")


def _sale_row(
    *,
    reference: str,
    journal_entry: JournalEntry | None,
    kind: str,
    point: VendingPoint | None,
    client_reference: str,
    fingerprint: str,
    actor: User,
    shift_id: int | None,
    meter: Meter,
    customer: Customer | None,
    plan: _Plan | None,
    currency: str,
    issued: list[tuple[str, IssuedToken]],
    reason: str,
    payment_method: str,
    payment_reference: str | None,
    cash_received: Money | None,
    key_ref: MeterKeyRef,
    now: datetime,
    today: Any,
) -> Sale:
    """The sale's row, not yet written (its debts' allocations made: ``debt_balance_after``)."""
    b = plan.breakdown if plan is not None else None
    # The sale records the energy its tokens carry, as the token encodes it: above 1638.3 kWh
    # that is more than the priced kWh rounded to a tenth (kernel.energy.token_kwh).
    energy_kwh = sum(
        (t.units or Decimal(0) for k, t in issued if k in ENERGY_TOKEN_KINDS), Decimal(0)
    )
    return Sale(
        reference=reference,
        journal_entry=journal_entry,
        kind=kind,
        vending_point=point,
        channel=point.channel if point is not None else "back_office",
        client_reference=client_reference,
        request_fingerprint=fingerprint,
        operator=actor,
        shift_id=shift_id,
        meter=meter,
        customer=customer,
        tariff_version=plan.version if plan is not None else None,
        currency=(b.currency if b is not None else currency) or settings.CURRENCY,
        tender_minor=b.tender.minor if b is not None else 0,
        debt_recovered_minor=b.debt_recovered.minor if b is not None else 0,
        fixed_charges_minor=b.fixed_charges_net.minor if b is not None else 0,
        tax_minor=b.tax_total.minor if b is not None else 0,
        energy_minor=b.energy_net.minor if b is not None else 0,
        kwh=energy_kwh,
        priced_kwh=b.priced_kwh if b is not None else Decimal(0),
        fbe_kwh=sum((t.units or Decimal(0) for k, t in issued if k == TokenKind.FBE), Decimal(0)),
        fixed_charges_paid_through=b.fixed_charges_paid_through if b is not None else None,
        breakdown=_breakdown_json(plan) if plan is not None else None,
        reason=reason,
        payment_method=payment_method,
        payment_reference=payment_reference,
        cash_received_minor=cash_received.minor if cash_received is not None else None,
        debt_balance_after_minor=plan.debt_balance_after().minor if plan is not None else None,
        key_sgc=key_ref.sgc,
        key_ti=key_ref.ti,
        key_krn=key_ref.krn,
        created_at=now,
        business_date=today,
        business_month=_month(today),
    )


def _token_rows(
    meter: Meter,
    issued: list[tuple[str, IssuedToken]],
    made_with: list[str],
    key_ref: MeterKeyRef,
    now: datetime,
) -> list[Token]:
    return [
        Token(
            meter=meter,
            sequence=i,
            kind=k,
            digits=t.digits,
            token_class=t.token_class,
            subclass=t.subclass,
            tid=t.tid,
            tid_base_year=key_ref.base_date_year if t.tid is not None else None,
            units=t.units,
            description=t.description[:120],
            key_ref=made_with[i - 1],
            created_at=now,
        )
        for i, (k, t) in enumerate(issued, start=1)
    ]


def _created_after(
    sale: Sale,
    issued: list[tuple[str, IssuedToken]],
    *,
    reason: str,
    payment_reference: str | None,
    cash_received: Money | None,
    digests: dict[str, str],
) -> dict[str, Any]:
    """The payload of the sale's creation event."""
    return {
        "reference": sale.reference,
        "kind": sale.kind,
        "meter": sale.meter.number,
        "tender_minor": sale.tender_minor,
        "currency": sale.currency,
        "kwh": str(sale.kwh),
        "tokens": [{"kind": k, "tid": t.tid, "units": t.units} for k, t in issued],
        "reason": reason,
        **({"payment_reference": payment_reference} if payment_reference else {}),
        **({"cash_received_minor": cash_received.minor} if cash_received is not None else {}),
        "digests": digests,
    }


@dataclass
class _PendingSale:
    """One priced sale whose tokens are made already (an offline station's), for
    :func:`_write_sales`: ``_write_sale``'s arguments."""

    actor: User
    kind: str
    meter: Meter
    customer: Customer
    point: VendingPoint
    client_reference: str
    fingerprint: str
    planned: list[_PlannedToken]
    now: datetime
    key_ref: MeterKeyRef
    plan: _Plan
    payment_method: str
    shift_id: int | None = None
    payment_reference: str | None = None
    cash_received: Money | None = None


def _write_sales(pending: list[_PendingSale]) -> list[SaleResult]:
    """Write many sales at once, each exactly as ``_write_sale`` writes it alone, in order:
    journal entries, sales, tokens and postings each in as few statements as the database
    takes, each debt paid down by its sales written once, the audit events chained in one go
    (``audit.services.record_many``). Only for sales whose tokens carry their TIDs already
    and change no key (an offline station's: the caller keeps the meters' newest TIDs).

    Each sale's debts are its plan's: sales of one customer share the customer's debt rows,
    whose balances are moved here sale by sale as each sale's recovery is allocated, so a
    later sale sees what an earlier one left, as it would read it alone."""
    if not pending:
        return []
    built: list[tuple[_PendingSale, Sale, list[Token], list[tuple[str, IssuedToken]]]] = []
    drafts: list[ledger.EntryDraft] = []
    lines: list[list[JournalLine]] = []
    paid: dict[int, Debt] = {}
    for p in pending:
        if any(t.issued is None or t.needs_tid for t in p.planned):
            raise RuntimeError("sales written together carry their tokens made already")
        if any(t.kind == TokenKind.KEY_CHANGE for t in p.planned):
            raise RuntimeError("a key change is not written with other sales")
        today = business_date(p.now, settings.TIME_ZONE)
        issued = [(t.kind, t.issued) for t in p.planned if t.issued is not None]
        made_with = [
            "" if t.token_class == 1 else (q.made_with or p.key_ref.key_ref)
            for q, (_k, t) in zip(p.planned, issued, strict=True)
        ]
        p.plan.allocate_debt_recovery()
        reference = _new_reference()
        draft = _sale_journal(p.plan, p.point, p.payment_method, p.customer, p.actor, reference)
        sale = _sale_row(
            reference=reference,
            journal_entry=None,
            kind=p.kind,
            point=p.point,
            client_reference=p.client_reference,
            fingerprint=p.fingerprint,
            actor=p.actor,
            shift_id=p.shift_id,
            meter=p.meter,
            customer=p.customer,
            plan=p.plan,
            currency="",
            issued=issued,
            reason="",
            payment_method=p.payment_method,
            payment_reference=p.payment_reference,
            cash_received=p.cash_received,
            key_ref=p.key_ref,
            now=p.now,
            today=today,
        )
        # What this sale took is gone before the customer's next sale reads the debts.
        taken = dict(p.plan.allocations)
        for debt in p.plan.debts:
            if debt.pk in taken:
                debt.balance_minor -= taken[debt.pk]
                paid[debt.pk] = debt
        built.append((p, sale, _token_rows(p.meter, issued, made_with, p.key_ref, p.now), issued))
        drafts.append((draft, today, p.actor))
        lines.append(draft_lines(draft))
    digests: list[dict[str, str]] = []

    def write_rows(entries: list[JournalEntry]) -> None:
        sales = [sale for _p, sale, _t, _i in built]
        for sale, entry in zip(sales, entries, strict=True):
            sale.journal_entry = entry
        rows.insert_many(sales)
        tokens = []
        for _p, sale, sale_tokens, _i in built:
            for token in sale_tokens:
                token.sale = sale
            tokens.extend(sale_tokens)
        rows.insert_many(tokens)
        digests.extend(
            sale_binding(sale, sale_tokens, journal_lines)
            for (_p, sale, sale_tokens, _i), journal_lines in zip(built, lines, strict=True)
        )

    for debt_id, debt in sorted(paid.items()):
        Debt.objects.filter(pk=debt_id).update(balance_minor=debt.balance_minor)
    ledger.post_journal_entries(drafts, kind="sale", before_postings=write_rows)
    for _p, sale, tokens, _i in built:
        sale_hooks.run_sale_hooks(sale, tokens)
    record_many(
        [
            Pending(
                actor=p.actor,
                event_type=sale_created(p.kind),
                target=sale,
                stream_key=p.meter.pk,
                after=_created_after(
                    sale,
                    issued,
                    reason="",
                    payment_reference=p.payment_reference,
                    cash_received=p.cash_received,
                    digests=sale_digests,
                ),
            )
            for (p, sale, _t, issued), sale_digests in zip(built, digests, strict=True)
        ]
    )
    return [SaleResult(sale, tokens) for _p, sale, tokens, _i in built]


def _source_account(
    point: VendingPoint, payment_method: str, customer: Customer, holder: User | None = None
) -> str:
    """Where the sale's money comes from. ``holder``: who takes the cash; a field agent's cash
    sale at a handheld point without a float joins the agent's cash in transit (its limit held
    by the database) until it is handed in at the office. A cashier selling at that point
    still books to its till."""
    if payment_method == "wallet":
        # The customer's prepaid wallet (gridvend.wallet), whatever the point: its kept balance
        # is a liability that the database never lets rise above zero (BALANCE_LIMIT).
        return wallet_account_code(customer.account_number)
    if point.uses_float:
        return float_account_code(point)
    if (
        holder is not None
        and point.channel == Channel.HANDHELD
        and payment_method == "cash"
        and Capability.FIELD_AGENT in holder.capability_set()
    ):
        return ledger.cash_in_transit_code(holder.pk)
    return f"till:{point.code}:{payment_method or 'cash'}"


def wallet_account_code(account_number: str) -> str:
    """The ledger account of a customer's prepaid wallet (docs/ledger.md, docs/wallet.md)."""
    return f"wallet:{account_number}"


def _breakdown_json(plan: _Plan) -> dict[str, Any]:
    data = plan.breakdown.to_dict()
    data["debt_allocations"] = [list(pair) for pair in plan.allocations]
    return data


def _recover_debts(plan: _Plan) -> None:
    balances = {d.pk: d.balance_minor for d in plan.debts}
    for debt_id, take in plan.allocations:
        Debt.objects.filter(pk=debt_id).update(balance_minor=balances[debt_id] - take)
