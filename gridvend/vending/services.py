"""The vending use cases: credit vend, trial vend, FBE, free issue, engineering tokens, reprint,
reversal and credit transfer — each one transaction, idempotent by client reference, audited."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit import context as request_context
from gridvend.audit.services import record
from gridvend.customers.models import Customer, CustomerStatus, Debt
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, SystemClock, business_date
from gridvend.kernel.errors import (
    DomainError,
    DuplicateRequest,
    InsufficientFloat,
    InvalidAmount,
    MeterBlocked,
    MeterRetired,
    TenderBelowChargesDue,
)
from gridvend.kernel.ledger import SaleAccounts, credit_sale_journal
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import (
    Breakdown,
    SaleContext,
    fbe_due,
    fixed_charges_due,
    price_by_energy,
    price_by_tender,
)
from gridvend.kernel.tariffs import TariffSpec
from gridvend.kernel.tokens import IssuedToken, MeterKeyRef, TokenEngine, allocate_tids
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import JournalLine, draft_lines, posted_lines
from gridvend.ledger.models import Account, JournalEntry
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter, MeterStatus
from gridvend.meters.selectors import (
    find_meter,
    meter_key_ref,
    normalise_meter_number,
    pending_key_change,
)
from gridvend.org.models import OrgUnit, VendingPoint, VendingPointStatus
from gridvend.org.services import ip_allowed
from gridvend.tariffs.models import TariffVersion
from gridvend.tariffs.selectors import spec_in_force
from gridvend.vending import visibility
from gridvend.vending.integrity.books import TOPPED_UP_EVENT, top_up_binding
from gridvend.vending.integrity.sales import (
    REVERSED_EVENT,
    created_event_type,
    reversal_binding,
    sale_binding,
)
from gridvend.vending.models import (
    BackOfficeRefund,
    FloatTopUp,
    FreeIssueRequest,
    RequestStatus,
    Reversal,
    ReversalRequest,
    Sale,
    SaleKind,
    SaleStatus,
    Shift,
    ShiftStatus,
    Token,
    TokenKind,
)
from gridvend.vending.shifts import (
    PAID_BY_BACK_OFFICE,
    PAID_FROM_DRAWER,
    PAID_FROM_OWN_SHIFT,
    PAID_THROUGH_CHANNEL,
    ShiftError,
    current_shift,
    require_open_shift,
)

ENGINEERING_KINDS = (
    "test",
    "clear_tamper",
    "clear_credit",
    "set_power_limit",
    "set_phase_unbalance_limit",
)
PAYMENT_METHODS = ("cash", "card", "cheque", "transfer", "mobile_money", "wallet", "float")
MAX_FREE_ISSUE_KWH = Decimal("1000")
# Tokens whose units are energy the meter adds to its credit register.
ENERGY_TOKEN_KINDS = frozenset(
    {TokenKind.CREDIT, TokenKind.FBE, TokenKind.FREE_ISSUE, TokenKind.CREDIT_TRANSFER}
)


# --- errors that only the vending layer raises --------------------------------------------------


class VendingRefused(DomainError):
    """A refusal with a stable code and a plain message (and nothing written)."""


def _refuse(code: str, message: str, **params: Any) -> VendingRefused:
    return VendingRefused(code, message, **params)


# --- results -------------------------------------------------------------------------------------


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


def _engine(engine: TokenEngine | None) -> TokenEngine:
    if engine is not None:
        return engine
    from gridvend.keys.engine import token_engine

    return token_engine()


def _new_reference() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "S" + "".join(secrets.choice(alphabet) for _ in range(11))


def _fingerprint(payload: dict[str, Any]) -> str:
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


# --- checks shared by every use case ------------------------------------------------------------


def _check_point(actor: User, point: VendingPoint) -> None:
    require_unit_in_scope(actor, point.org_unit)
    if point.status != VendingPointStatus.ACTIVE:
        raise _refuse(
            "VENDING_POINT_INACTIVE",
            _("This vending point is not active; it cannot sell."),
            vending_point=point.code,
        )
    ip = request_context.current().ip
    if not ip_allowed(point, ip):
        raise _refuse(
            "VENDING_POINT_ADDRESS_REFUSED",
            _("Sales from this network address are not allowed at this vending point."),
            vending_point=point.code,
        )


def _check_client_reference(client_reference: str) -> str:
    ref = client_reference.strip()
    if not ref or len(ref) > 64:
        raise _refuse(
            "CLIENT_REFERENCE_INVALID",
            _("Every request needs a reference of 1 to 64 characters."),
        )
    return ref


def _check_meter_sellable(meter: Meter) -> Customer:
    if meter.status == MeterStatus.BLOCKED:
        raise MeterBlocked(meter_number=meter.number, reason=meter.block_reason or None)
    if meter.status == MeterStatus.RETIRED:
        raise MeterRetired(meter_number=meter.number)
    if meter.status == MeterStatus.FAULTY:
        raise _refuse(
            "METER_FAULTY",
            _("Meter %(number)s is registered as faulty; tokens cannot be sold for it.")
            % {"number": meter.number},
            meter_number=meter.number,
        )
    customer = meter.customer
    if customer is None:
        raise _refuse(
            "METER_NOT_INSTALLED",
            _("Meter %(number)s is not installed for any customer.") % {"number": meter.number},
            meter_number=meter.number,
        )
    if customer.status != CustomerStatus.ACTIVE:
        raise _refuse(
            "CUSTOMER_NOT_ACTIVE",
            _("The customer account %(account)s is not active.")
            % {"account": customer.account_number},
            account_number=customer.account_number,
        )
    return customer


def sale_refusal(meter: Meter) -> DomainError | None:
    """Why no credit can be sold for this meter now (blocked, faulty, no active customer...),
    or None: screens use it to offer no amount form where a sale would only be refused."""
    try:
        _check_meter_sellable(meter)
    except DomainError as exc:
        return exc
    return None


def _replay(
    point: VendingPoint | None, client_reference: str, fingerprint: str
) -> SaleResult | None:
    # The common case is a new reference: look for it with the cheapest query there is.
    hit = list(
        Sale.objects.filter(vending_point=point, client_reference=client_reference)
        .order_by()
        .values_list("pk", "request_fingerprint")[:1]
    )
    if not hit:
        return None
    pk, stored_fingerprint = hit[0]
    if stored_fingerprint != fingerprint:
        raise DuplicateRequest(reference=client_reference)
    existing = Sale.objects.select_related("meter", "customer").get(pk=pk)
    return SaleResult(existing, list(existing.tokens.order_by("sequence")), replayed=True)


# --- pricing context ----------------------------------------------------------------------------


def _month(day: Any) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _context(
    customer: Customer, spec: TariffSpec, today: Any, *, lock_debts: bool
) -> tuple[SaleContext, list[Debt]]:
    month = _month(today)
    completed = Q(status=SaleStatus.COMPLETED)
    this_month = Q(business_month=month)
    totals = Sale.objects.filter(customer=customer).aggregate(
        kwh=Sum("priced_kwh", filter=completed & this_month),
        debt=Sum("debt_recovered_minor", filter=completed & this_month),
        fbe=Sum("fbe_kwh", filter=this_month),
        paid_through=Max("fixed_charges_paid_through", filter=completed),
    )
    paid_through = totals["paid_through"]
    debts_qs = Debt.objects.filter(customer=customer, balance_minor__gt=0).order_by(
        "opened_at", "id"
    )
    if lock_debts:
        debts_qs = debts_qs.select_for_update()
    debts = [d for d in debts_qs if d.currency == spec.currency]
    ctx = SaleContext(
        customer_category=customer.category,
        month_to_date_kwh=Decimal(totals["kwh"] or 0),
        fixed_charges=fixed_charges_due(spec, paid_through, today) if spec.fixed_charges else None,
        debt_balance=Money(sum(d.balance_minor for d in debts), spec.currency),
        debt_recovered_this_month=Money(int(totals["debt"] or 0), spec.currency),
        fbe_issued_this_month=bool(totals["fbe"]),
    )
    return ctx, debts


def _price(
    meter: Meter,
    customer: Customer,
    *,
    tender: Money | None,
    kwh: Decimal | None,
    now: datetime,
    lock_debts: bool,
) -> _Plan:
    version, spec = spec_in_force(customer.tariff, now)
    today = business_date(now, settings.TIME_ZONE)
    ctx, debts = _context(customer, spec, today, lock_debts=lock_debts)
    breakdown = _breakdown(spec, ctx, tender=tender, kwh=kwh)
    return _Plan(meter, customer, version, spec, breakdown, debts)


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


# --- writing a sale -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlannedToken:
    kind: str
    issue: Callable[[int | None], IssuedToken] | None = None
    issued: IssuedToken | None = None  # for tokens made before TIDs (key changes)
    needs_tid: bool = True


def _lock(meter: Meter) -> tuple[Customer | None, Meter]:
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
        return _lock(locked)
    if locked.org_unit_id == meter.org_unit_id:
        locked.org_unit = meter.org_unit
    locked.customer = customer
    return customer, locked


def _apply_key_change(
    meter: Meter, change: KeyChange, engine: TokenEngine, now: datetime
) -> tuple[list[IssuedToken], MeterKeyRef]:
    old = MeterKeyRef(**change.old_params)
    new = MeterKeyRef(**change.new_params)
    tokens = engine.issue_key_change(old, new, roll_over=change.roll_over)
    for name in ("sgc", "ti", "krn", "kt", "ken", "ea", "dkga", "base_date_year", "key_ref"):
        setattr(meter, name, change.new_params[name])
    if change.roll_over:
        # The meter clears its TID memory on a roll-over; TIDs restart from the new base date.
        meter.last_tid = None
    KeyChange.objects.filter(pk=change.pk).update(status=KeyChangeStatus.ISSUED, issued_at=now)
    return tokens, new


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
    shift: Shift | None = None,
    payment_reference: str | None = None,
    cash_received: Money | None = None,
) -> SaleResult:
    """Issue tokens (TIDs above the meter's last), then write sale, tokens, journal and audit."""
    today = business_date(now, settings.TIME_ZONE)
    with_tid = [p for p in planned if p.needs_tid and p.issue is not None]
    tids = allocate_tids(
        meter.last_tid, engine.tid_for(key_ref, now), len(with_tid), ken=key_ref.ken
    )
    tid_iter = iter(tids)
    issued: list[tuple[str, IssuedToken]] = []
    for p in planned:
        if p.issued is not None:
            issued.append((p.kind, p.issued))
        else:
            assert p.issue is not None
            issued.append((p.kind, p.issue(next(tid_iter) if p.needs_tid else None)))
    if tids:
        meter.last_tid = tids[-1]
    meter.save(
        update_fields=[
            "last_tid",
            "sgc",
            "ti",
            "krn",
            "kt",
            "ken",
            "ea",
            "dkga",
            "base_date_year",
            "key_ref",
        ]
    )
    b = plan.breakdown if plan is not None else None
    if plan is not None:
        plan.allocate_debt_recovery()
    # The sale records the energy its tokens carry, as the token encodes it: above 1638.3 kWh
    # that is more than the priced kWh rounded to a tenth (kernel.energy.token_kwh).
    energy_kwh = sum(
        (t.units or Decimal(0) for k, t in issued if k in ENERGY_TOKEN_KINDS), Decimal(0)
    )
    entry = None
    journal_lines: list[JournalLine] = []
    reference = _new_reference()
    if plan is not None and b is not None and customer is not None:
        _recover_debts(plan)
        assert point is not None
        accounts = SaleAccounts(
            source=_source_account(point, payment_method),
            energy_revenue=ledger.ENERGY_REVENUE,
            fixed_charge_revenue=ledger.FIXED_CHARGE_REVENUE,
            customer_debt=f"debt:{customer.account_number}",
            default_tax_payable=ledger.TAX_PAYABLE,
        )
        draft = credit_sale_journal(b, accounts, memo=f"sale {reference}")
        entry = ledger.post(draft, kind="sale", business_date=today, actor=actor)
        journal_lines = draft_lines(draft)
    sale = Sale(
        reference=reference,
        journal_entry=entry,
        kind=kind,
        vending_point=point,
        channel=point.channel if point is not None else "back_office",
        client_reference=client_reference,
        request_fingerprint=fingerprint,
        operator=actor,
        shift=shift,
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
    sale.save()
    tokens = Token.objects.bulk_create(
        [
            Token(
                sale=sale,
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
                created_at=now,
            )
            for i, (k, t) in enumerate(issued, start=1)
        ]
    )
    record(
        actor=actor,
        event_type=created_event_type(kind),
        target=sale,
        after={
            "reference": sale.reference,
            "kind": kind,
            "meter": meter.number,
            "tender_minor": sale.tender_minor,
            "currency": sale.currency,
            "kwh": str(sale.kwh),
            "tokens": [{"kind": k, "tid": t.tid, "units": t.units} for k, t in issued],
            "reason": reason,
            **({"payment_reference": payment_reference} if payment_reference else {}),
            **({"cash_received_minor": cash_received.minor} if cash_received is not None else {}),
            # Binds the rows just written to the chain: an edit later no longer matches.
            "digests": sale_binding(sale, tokens, journal_lines),
        },
    )
    return SaleResult(sale, tokens)


def float_account_code(point: VendingPoint) -> str:
    return f"float:{point.code}"


def _source_account(point: VendingPoint, payment_method: str) -> str:
    if point.uses_float:
        return float_account_code(point)
    return f"till:{point.code}:{payment_method or 'cash'}"


def float_available(point: VendingPoint, currency: str, *, lock: bool = False) -> Money:
    """What a prefunded point may still sell: its float is a liability (credit balance)."""
    qs = Account.objects.filter(code=float_account_code(point))
    if lock:
        qs = qs.select_for_update()
    account = qs.first()
    return Money(-(account.balance_minor if account is not None else 0), currency)


def _check_float(point: VendingPoint, tender: Money) -> None:
    if not point.uses_float:
        return
    available = float_available(point, tender.currency, lock=True)
    if available < tender:
        raise InsufficientFloat(available=available, required=tender)


def top_up_float(
    *, actor: User, vending_point: VendingPoint, amount: Money, reference: str
) -> JournalEntry:
    """Record a partner's prefunding: money received at the bank, owed back as float."""
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, vending_point.org_unit)
    if not vending_point.uses_float:
        raise _refuse("FLOAT_NOT_USED", _("This vending point does not sell from a float."))
    if not amount.is_positive():
        raise InvalidAmount(value=str(amount), reason="the top-up must be more than zero")
    ref = _check_client_reference(reference)
    from gridvend.kernel.ledger import Posting, journal

    def existing() -> JournalEntry | None:
        found = FloatTopUp.objects.filter(vending_point=vending_point, reference=ref).first()
        if found is None:
            return None
        if (found.amount_minor, found.currency) != (amount.minor, amount.currency):
            raise DuplicateRequest(reference=ref)
        return found.journal_entry

    again = existing()
    if again is not None:
        return again
    try:
        with transaction.atomic():
            ledger.ensure_account(float_account_code(vending_point), amount.currency)
            draft = journal(
                [
                    Posting("bank:float-deposits", amount),
                    Posting(float_account_code(vending_point), -amount),
                ],
                memo=f"float top-up {vending_point.code} {ref}",
            )
            entry = ledger.post(
                draft,
                kind="float.topped_up",
                business_date=business_date(SystemClock().now(), settings.TIME_ZONE),
                actor=actor,
            )
            top_up = FloatTopUp.objects.create(
                vending_point=vending_point,
                reference=ref,
                amount_minor=amount.minor,
                currency=amount.currency,
                journal_entry=entry,
                recorded_by=actor,
            )
            record(
                actor=actor,
                event_type=TOPPED_UP_EVENT,
                target=top_up,
                after={
                    "amount": amount.to_dict(),
                    "reference": ref,
                    "vending_point": vending_point.code,
                    # Binds the top-up and its postings: an edited amount no longer matches.
                    "digests": top_up_binding(top_up, draft_lines(draft)),
                },
            )
        return entry
    except IntegrityError:
        # The same deposit recorded concurrently: the first one stands.
        again = existing()
        if again is None:
            raise
        return again


def _breakdown_json(plan: _Plan) -> dict[str, Any]:
    data = plan.breakdown.to_dict()
    data["debt_allocations"] = [list(pair) for pair in plan.allocations]
    return data


def _recover_debts(plan: _Plan) -> None:
    balances = {d.pk: d.balance_minor for d in plan.debts}
    for debt_id, take in plan.allocations:
        Debt.objects.filter(pk=debt_id).update(balance_minor=balances[debt_id] - take)


def _run_idempotent(
    point: VendingPoint | None,
    client_reference: str,
    fingerprint: str,
    body: Callable[[], SaleResult],
    *,
    checked: bool = False,
) -> SaleResult:
    """Run a sale once per (vending point, client reference); a repeat returns the original.

    ``checked``: the caller has just looked for a replay itself (the body looks again under the
    meter lock either way).
    """
    if not checked:
        replay = _replay(point, client_reference, fingerprint)
        if replay is not None:
            return replay
    try:
        with transaction.atomic():
            return body()
    except IntegrityError as exc:
        # A concurrent request with the same reference committed first.
        if "client_reference" not in str(exc) and "sale_client_reference_once" not in str(exc):
            raise
        replay = _replay(point, client_reference, fingerprint)
        if replay is None:
            raise
        return replay


# --- the use cases ------------------------------------------------------------------------------


def trial_vend(
    *,
    actor: User,
    meter_number: str,
    tender: Money | None = None,
    kwh: Decimal | None = None,
    clock: Clock | None = None,
) -> Quote:
    """The breakdown a sale would have now; no token, no money, nothing written."""
    _require_seller(actor)
    _validate_request(tender, kwh)
    now = (clock or SystemClock()).now()
    meter = find_meter(actor, meter_number)
    customer = _check_meter_sellable(meter)
    plan = _price(meter, customer, tender=tender, kwh=kwh, now=now, lock_debts=False)
    pending = pending_key_change(meter) is not None
    count = 1 + (1 if plan.breakdown.fbe_kwh > 0 else 0)
    if pending:
        count += 2 if meter.ea == "07" else 4
    return Quote(meter, customer, plan.version, plan.breakdown, pending, count)


def vend_credit(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    tender: Money | None = None,
    kwh: Decimal | None = None,
    payment_method: str = "cash",
    payment_reference: str | None = None,
    cash_received: Money | None = None,
    quoted_tender: Money | None = None,
    quoted_kwh: Decimal | None = None,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> SaleResult:
    """Sell credit by money tendered or by kWh wanted (DESIGN §7).

    ``quoted_tender`` / ``quoted_kwh``: what the breakdown shown to the customer asked for and
    gave. When either is given and the price at the moment of sale differs (a debt opened, a
    tariff published, a month turned in between), nothing is sold: QUOTE_CHANGED.

    ``payment_reference``: the slip, cheque or transaction code of a non-cash tender.
    ``cash_received``: what a cash customer handed over; refused below the price (the change
    is the difference). Neither changes what is sold, so neither is part of the fingerprint: a
    repeat of the request returns the first sale as it was recorded.
    """
    _require_seller(actor)
    _check_point(actor, vending_point)
    ref = _check_client_reference(client_reference)
    _validate_request(tender, kwh)
    if payment_method not in PAYMENT_METHODS:
        raise _refuse("PAYMENT_METHOD_INVALID", _("Unknown payment method."))
    payment_reference = _check_payment_reference(payment_reference)
    if cash_received is not None and (payment_method != "cash" or not cash_received.is_positive()):
        raise _refuse(
            "CASH_RECEIVED_INVALID", _("Cash received is only recorded for cash payments.")
        )
    fingerprint = _fingerprint(
        {
            "op": "credit",
            "meter": "".join(ch for ch in meter_number if ch.isdigit()),
            "tender": tender.to_dict() if tender is not None else None,
            "kwh": str(kwh) if kwh is not None else None,
            "payment": payment_method,
        }
    )
    tokens_engine = _engine(engine)
    now = (clock or SystemClock()).now()
    meter = find_meter(actor, meter_number)
    replay = _replay(vending_point, ref, fingerprint)
    if replay is not None:
        return replay
    shift = require_open_shift(actor, vending_point)

    def body() -> SaleResult:
        customer, locked = _lock(meter)
        replay = _replay(vending_point, ref, fingerprint)
        if replay is not None:
            return replay
        _lock_shift(shift)
        customer = _check_meter_sellable(locked)
        plan = _price(locked, customer, tender=tender, kwh=kwh, now=now, lock_debts=True)
        _check_quote(plan.breakdown, quoted_tender, quoted_kwh)
        _check_cash_received(cash_received, plan.breakdown.tender)
        _check_float(vending_point, plan.breakdown.tender)
        planned, key_ref = _key_change_tokens(locked, tokens_engine, now)
        b = plan.breakdown
        planned.append(
            _PlannedToken(
                TokenKind.CREDIT,
                issue=lambda tid: tokens_engine.issue_credit(key_ref, kwh=b.kwh, tid=_tid(tid)),
            )
        )
        if b.fbe_kwh > 0:
            planned.append(
                _PlannedToken(
                    TokenKind.FBE,
                    issue=lambda tid: tokens_engine.issue_credit(
                        key_ref, kwh=b.fbe_kwh, tid=_tid(tid)
                    ),
                )
            )
        return _write_sale(
            actor=actor,
            kind=SaleKind.CREDIT,
            meter=locked,
            customer=customer,
            point=vending_point,
            client_reference=ref,
            fingerprint=fingerprint,
            planned=planned,
            engine=tokens_engine,
            now=now,
            key_ref=key_ref,
            plan=plan,
            payment_method=payment_method,
            shift=shift,
            payment_reference=payment_reference,
            cash_received=cash_received,
        )

    return _run_idempotent(vending_point, ref, fingerprint, body, checked=True)


def _check_payment_reference(reference: str | None) -> str | None:
    text = (reference or "").strip()
    if len(text) > 64:
        raise _refuse(
            "PAYMENT_REFERENCE_INVALID", _("A payment reference has at most 64 characters.")
        )
    return text or None


def _check_quote(
    breakdown: Breakdown, quoted_tender: Money | None, quoted_kwh: Decimal | None
) -> None:
    """The sale is the breakdown the customer agreed to, or nothing: a cashier must never take
    the quoted sum for a sale that is now priced differently."""
    tender_moved = quoted_tender is not None and breakdown.tender != quoted_tender
    kwh_moved = quoted_kwh is not None and breakdown.kwh != quoted_kwh
    if tender_moved or kwh_moved:
        raise _refuse(
            "QUOTE_CHANGED",
            _(
                "The price changed after the breakdown was shown: it is now %(due)s for "
                "%(kwh)s kWh. Nothing was sold; show the customer the new breakdown."
            )
            % {"due": breakdown.tender, "kwh": breakdown.kwh},
            due=str(breakdown.tender),
            kwh=str(breakdown.kwh),
        )


def _check_cash_received(cash_received: Money | None, price: Money) -> None:
    if cash_received is None:
        return
    if cash_received.currency != price.currency or cash_received < price:
        raise _refuse(
            "CASH_RECEIVED_TOO_LOW",
            _("The cash received (%(received)s) is less than the amount due (%(due)s).")
            % {"received": cash_received, "due": price},
            field="cash_received",
            due=str(price),
        )


def _lock_shift(shift: Shift | None) -> None:
    """A sale and the shift's close never interleave: the close would miss the sale."""
    if shift is None:
        return
    status = Shift.objects.select_for_update().values_list("status", flat=True).get(pk=shift.pk)
    if status != ShiftStatus.OPEN:
        raise ShiftError("SHIFT_CLOSED", _("This shift is closed; open a new one to sell."))


def _tid(tid: int | None) -> int:
    assert tid is not None
    return tid


def _key_change_tokens(
    meter: Meter, engine: TokenEngine, now: datetime
) -> tuple[list[_PlannedToken], MeterKeyRef]:
    """Pending key-change tokens go first; later tokens are made with the new key."""
    change = (
        KeyChange.objects.select_for_update()
        .filter(meter=meter, status=KeyChangeStatus.PENDING)
        .first()
    )
    if change is None:
        return [], meter_key_ref(meter)
    issued, new_ref = _apply_key_change(meter, change, engine, now)
    return [_PlannedToken(TokenKind.KEY_CHANGE, issued=t, needs_tid=False) for t in issued], new_ref


Issue = Callable[[TokenEngine, MeterKeyRef, int | None], IssuedToken]


@dataclass(frozen=True)
class _Grant:
    """What a sale without money issues, decided under the meter lock."""

    sale_kind: str
    token_kind: str
    issue: Issue
    needs_tid: bool = True
    reason: str = ""
    currency: str = ""


def _grant_sale(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    request: dict[str, Any],
    meter_number: str,
    clock: Clock | None,
    engine: TokenEngine | None,
    decide: Callable[[Meter, datetime], _Grant],
) -> SaleResult:
    """The shared path of FBE, free issues and engineering tokens: idempotent, locked, audited."""
    ref = _check_client_reference(client_reference)
    fingerprint = _fingerprint({**request, "meter": normalise_meter_number(meter_number)})
    tokens_engine = _engine(engine)
    now = (clock or SystemClock()).now()
    meter = find_meter(actor, meter_number)

    def body() -> SaleResult:
        _customer, locked = _lock(meter)
        replay = _replay(vending_point, ref, fingerprint)
        if replay is not None:
            return replay
        grant = decide(locked, now)
        planned, key_ref = _key_change_tokens(locked, tokens_engine, now)
        planned.append(
            _PlannedToken(
                grant.token_kind,
                issue=lambda tid: grant.issue(tokens_engine, key_ref, tid),
                needs_tid=grant.needs_tid,
            )
        )
        return _write_sale(
            actor=actor,
            kind=grant.sale_kind,
            shift=current_shift(actor, vending_point),
            meter=locked,
            customer=locked.customer,
            point=vending_point,
            client_reference=ref,
            fingerprint=fingerprint,
            planned=planned,
            engine=tokens_engine,
            now=now,
            key_ref=key_ref,
            reason=grant.reason,
            currency=grant.currency,
        )

    return _run_idempotent(vending_point, ref, fingerprint, body)


def _credit(kwh: Decimal) -> Issue:
    return lambda engine, key_ref, tid: engine.issue_credit(key_ref, kwh=kwh, tid=_tid(tid))


def issue_fbe(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> SaleResult:
    """This month's free basic electricity on its own, when due and not yet issued."""
    _require_seller(actor)
    _check_point(actor, vending_point)

    def decide(meter: Meter, now: datetime) -> _Grant:
        customer = _check_meter_sellable(meter)
        _version, spec = spec_in_force(customer.tariff, now)
        ctx, _debts = _context(
            customer, spec, business_date(now, settings.TIME_ZONE), lock_debts=False
        )
        due = fbe_due(spec, ctx)
        if due <= 0:
            raise _refuse(
                "FBE_NOT_DUE",
                _("No free basic electricity is due for this meter this month."),
                meter_number=meter.number,
            )
        return _Grant(SaleKind.FBE, TokenKind.FBE, _credit(due), currency=spec.currency)

    return _grant_sale(
        actor=actor,
        vending_point=vending_point,
        client_reference=client_reference,
        request={"op": "fbe"},
        meter_number=meter_number,
        clock=clock,
        engine=engine,
        decide=decide,
    )


def free_issue_approval_limit() -> Decimal:
    return Decimal(settings.FREE_ISSUE_APPROVAL_KWH)


def free_issue_period() -> timedelta:
    return timedelta(hours=settings.FREE_ISSUE_PERIOD_HOURS)


def _needs_approval(limit: Decimal, **params: Any) -> VendingRefused:
    return _refuse(
        "FREE_ISSUE_NEEDS_APPROVAL",
        _(
            "Free issues above %(limit)s kWh to one meter, or by one person, within %(hours)s "
            "hours need a second person's approval."
        )
        % {"limit": limit, "hours": settings.FREE_ISSUE_PERIOD_HOURS},
        limit=str(limit),
        hours=settings.FREE_ISSUE_PERIOD_HOURS,
        **params,
    )


def free_kwh_in_period(*, meter: Meter, issuer: User, now: datetime) -> tuple[Decimal, Decimal]:
    """Free energy already counted against the approval limit in the period ending ``now``.

    To the meter: every free issue (approved ones too) and every pending request. By the issuer:
    the free issues they made alone (not those they approved for someone else) and their pending
    requests. Callers that decide on a new free issue hold the meter's and the issuer's locks.
    """
    since = now - free_issue_period()
    issued = Sale.objects.filter(kind=SaleKind.FREE_ISSUE, created_at__gt=since)
    waiting = FreeIssueRequest.objects.filter(status=RequestStatus.PENDING, requested_at__gt=since)

    def total(sales: QuerySet[Sale], requests: QuerySet[FreeIssueRequest]) -> Decimal:
        given = sales.aggregate(kwh=Sum("kwh"))["kwh"] or Decimal(0)
        asked = requests.aggregate(kwh=Sum("kwh"))["kwh"] or Decimal(0)
        return Decimal(given) + Decimal(asked)

    to_meter = total(issued.filter(meter=meter), waiting.filter(meter=meter))
    by_issuer = total(
        issued.filter(operator=issuer, free_issue_request__isnull=True),
        waiting.filter(requested_by=issuer),
    )
    return to_meter, by_issuer


def _check_free_issue_total(actor: User, meter: Meter, kwh: Decimal, now: datetime) -> None:
    """Refuse a free issue that would take the meter or the issuer above the limit in the period.

    Runs under the meter's lock (taken by the sale path) and then the issuer's user row, so two
    free issues to one meter, or by one person to two meters, are counted one after the other.
    """
    list(User.objects.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True))
    limit = free_issue_approval_limit()
    to_meter, by_issuer = free_kwh_in_period(meter=meter, issuer=actor, now=now)
    if to_meter + kwh > limit or by_issuer + kwh > limit:
        raise _needs_approval(
            limit,
            meter_number=meter.number,
            meter_kwh=str(to_meter),
            issuer_kwh=str(by_issuer),
        )


def _check_free_issue(actor: User, kwh: Decimal, reason: str) -> None:
    if not reason.strip():
        raise _refuse("REASON_REQUIRED", _("A reason is required."))
    if not kwh.is_finite() or kwh <= 0 or kwh > MAX_FREE_ISSUE_KWH:
        raise InvalidAmount(
            value=str(kwh), reason=f"free issues are 0.1 to {MAX_FREE_ISSUE_KWH} kWh"
        )


def _issue_free(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    kwh: Decimal,
    reason: str,
    clock: Clock | None,
    engine: TokenEngine | None,
    approved: bool = False,
) -> SaleResult:
    def decide(meter: Meter, now: datetime) -> _Grant:
        _check_meter_sellable(meter)
        if not approved:
            _check_free_issue_total(actor, meter, kwh, now)
        return _Grant(
            SaleKind.FREE_ISSUE, TokenKind.FREE_ISSUE, _credit(kwh), reason=reason.strip()
        )

    return _grant_sale(
        actor=actor,
        vending_point=vending_point,
        client_reference=client_reference,
        request={"op": "free", "kwh": str(kwh)},
        meter_number=meter_number,
        clock=clock,
        engine=engine,
        decide=decide,
    )


def free_issue(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    kwh: Decimal,
    reason: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> SaleResult:
    """Goodwill units: no money moves; the finance capability and a reason. Once the free issues
    to the meter, or by this person, in the last GRIDVEND_FREE_ISSUE_PERIOD_HOURS would pass
    GRIDVEND_FREE_ISSUE_APPROVAL_KWH, FREE_ISSUE_NEEDS_APPROVAL: a second person decides (see
    ``request_free_issue``)."""
    permissions.require_capability(actor, Capability.FINANCE)
    _check_point(actor, vending_point)
    _check_client_reference(client_reference)
    _check_free_issue(actor, kwh, reason)
    limit = free_issue_approval_limit()
    if kwh > limit:
        raise _needs_approval(limit)
    return _issue_free(
        actor=actor,
        vending_point=vending_point,
        client_reference=client_reference,
        meter_number=meter_number,
        kwh=kwh,
        reason=reason,
        clock=clock,
        engine=engine,
    )


def request_free_issue(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    kwh: Decimal,
    reason: str,
    clock: Clock | None = None,
) -> FreeIssueRequest:
    """Ask for a free issue that someone else with the finance capability will decide."""
    if not (
        actor.has_capability(Capability.FINANCE) or actor.has_capability(Capability.CUSTOMER_CARE)
    ):
        permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, vending_point.org_unit)
    ref = _check_client_reference(client_reference)
    _check_free_issue(actor, kwh, reason)
    meter = find_meter(actor, meter_number)
    with transaction.atomic():
        existing = FreeIssueRequest.objects.filter(
            vending_point=vending_point, client_reference=ref
        ).first()
        if existing is not None:
            if (existing.meter_id, existing.kwh) != (meter.pk, kwh):
                raise DuplicateRequest(reference=ref)
            return existing
        request = FreeIssueRequest.objects.create(
            vending_point=vending_point,
            client_reference=ref,
            meter=meter,
            kwh=kwh,
            reason=reason.strip()[:255],
            requested_by=actor,
            requested_at=(clock or SystemClock()).now(),
        )
        record(
            actor=actor,
            event_type="free_issue.requested",
            target=request,
            after={"meter": meter.number, "kwh": str(kwh), "reason": request.reason},
        )
    return request


def _lock_free_issue_request(actor: User, request: FreeIssueRequest) -> FreeIssueRequest:
    return _lock_for_decision(
        actor,
        FreeIssueRequest.objects.select_related(
            "meter", "vending_point", "vending_point__org_unit", "requested_by"
        ),
        request.pk,
        request.meter.org_unit,
        not_yours=_("Someone other than the requester must decide this request."),
    )


def approve_free_issue(
    *,
    actor: User,
    request: FreeIssueRequest,
    note: str = "",
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> SaleResult:
    """Issue the requested units as the approver; the request keeps the sale."""
    now = (clock or SystemClock()).now()
    with transaction.atomic():
        locked = _lock_free_issue_request(actor, request)
        _check_point(actor, locked.vending_point)
        result = _issue_free(
            actor=actor,
            vending_point=locked.vending_point,
            client_reference=f"free-request-{locked.pk}",
            meter_number=locked.meter.number,
            kwh=locked.kwh,
            reason=f"{locked.reason} (requested by {locked.requested_by.get_username()})",
            clock=clock,
            engine=engine,
            approved=True,
        )
        _record_decision(
            actor,
            locked,
            status=RequestStatus.APPROVED,
            note=note,
            now=now,
            event_type="free_issue.approved",
            sale=result.sale,
        )
    return result


def reject_free_issue(
    *, actor: User, request: FreeIssueRequest, note: str, clock: Clock | None = None
) -> FreeIssueRequest:
    if not note.strip():
        raise _refuse("REASON_REQUIRED", _("A reason is required."))
    now = (clock or SystemClock()).now()
    with transaction.atomic():
        locked = _lock_free_issue_request(actor, request)
        _record_decision(
            actor,
            locked,
            status=RequestStatus.REJECTED,
            note=note,
            now=now,
            event_type="free_issue.rejected",
        )
        locked.refresh_from_db()
    return locked


def issue_engineering_token(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    kind: str,
    reason: str,
    value: int | None = None,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> SaleResult:
    """Clear tamper, clear credit, power limits and meter tests: supervisors with customer care."""
    permissions.require_capability(actor, Capability.CUSTOMER_CARE)
    permissions.require_rank(actor, rank(Role.VENDING_POINT_MANAGER))
    _check_point(actor, vending_point)
    _check_client_reference(client_reference)
    if kind not in ENGINEERING_KINDS:
        raise _refuse("ENGINEERING_KIND_INVALID", _("Unknown engineering token."), kind=kind)
    if not reason.strip():
        raise _refuse("REASON_REQUIRED", _("A reason is required."))
    if kind in ("set_power_limit", "set_phase_unbalance_limit") and (
        value is None or not 0 <= value <= 18_201_624
    ):
        raise InvalidAmount(value=str(value), reason="a limit in watts is required")

    def decide(meter: Meter, now: datetime) -> _Grant:
        # Engineering tokens also serve blocked or faulty meters (that is often the point).
        if meter.status == MeterStatus.RETIRED:
            raise MeterRetired(meter_number=meter.number)
        return _Grant(
            SaleKind.ENGINEERING,
            TokenKind.ENGINEERING,
            lambda engine, key_ref, tid: engine.issue_engineering(
                key_ref, kind=kind, value=value, tid=tid
            ),
            needs_tid=kind != "test",
            reason=f"{kind}: {reason.strip()}",
        )

    return _grant_sale(
        actor=actor,
        vending_point=vending_point,
        client_reference=client_reference,
        request={"op": "eng", "kind": kind, "value": value},
        meter_number=meter_number,
        clock=clock,
        engine=engine,
        decide=decide,
    )


def _check_transfer_total(actor: User, kwh: Decimal, limit: Decimal, now: datetime) -> None:
    """An installer's transfers add up over the free-issue period: a chain of replacements
    (200 kWh each) is as much free energy as one large transfer, and needs finance the same way.
    The installer's own row is locked first, so two transfers at once cannot both pass."""
    User.objects.select_for_update().filter(pk=actor.pk).exists()
    since = now - timedelta(hours=settings.FREE_ISSUE_PERIOD_HOURS)
    done = Sale.objects.filter(
        kind=SaleKind.CREDIT_TRANSFER, operator=actor, created_at__gte=since
    ).aggregate(total=Sum("kwh"))["total"] or Decimal(0)
    if done + kwh > limit:
        raise _refuse(
            "CREDIT_TRANSFER_ABOVE_LIMIT",
            _(
                "Transfers above %(limit)s kWh within %(hours)s hours need someone with the "
                "finance capability."
            )
            % {"limit": limit, "hours": settings.FREE_ISSUE_PERIOD_HOURS},
            limit=str(limit),
            already=str(done),
        )


def issue_credit_transfer(
    *,
    actor: User,
    meter: Meter,
    kwh: Decimal,
    vending_point: VendingPoint | None,
    reason: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> Sale:
    """Units left in a replaced meter, issued to its successor (no money; inside the caller's
    transaction when called from meter replacement).

    Free energy by another name, so it is guarded like a free issue: installers may move up to
    GRIDVEND_CREDIT_TRANSFER_LIMIT_KWH, anything above needs the finance capability.
    """
    if not kwh.is_finite() or kwh <= 0:
        raise InvalidAmount(value=str(kwh), reason="the units to transfer must be more than zero")
    if not any(
        actor.has_capability(c)
        for c in (Capability.FINANCE, Capability.CUSTOMER_CARE, Capability.FIELD_AGENT)
    ):
        permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, meter.org_unit)
    if vending_point is not None:
        require_unit_in_scope(actor, vending_point.org_unit)
        if vending_point.status != VendingPointStatus.ACTIVE:
            raise _refuse(
                "VENDING_POINT_INACTIVE",
                _("This vending point is not active; it cannot sell."),
                vending_point=vending_point.code,
            )
    if not reason.strip():
        raise _refuse("REASON_REQUIRED", _("A reason is required."))
    limit = Decimal(settings.CREDIT_TRANSFER_LIMIT_KWH)
    if kwh > limit and not actor.has_capability(Capability.FINANCE):
        raise _refuse(
            "CREDIT_TRANSFER_ABOVE_LIMIT",
            _("Transfers above %(limit)s kWh need someone with the finance capability.")
            % {"limit": limit},
            limit=str(limit),
        )
    tokens_engine = _engine(engine)
    now = (clock or SystemClock()).now()
    ref = f"transfer-{meter.number}-{int(now.timestamp())}"
    fingerprint = _fingerprint({"op": "transfer", "meter": meter.number, "kwh": str(kwh)})
    with transaction.atomic():
        customer, locked = _lock(meter)
        if not actor.has_capability(Capability.FINANCE):
            _check_transfer_total(actor, kwh, limit, now)
        planned, key_ref = _key_change_tokens(locked, tokens_engine, now)
        planned.append(
            _PlannedToken(
                TokenKind.CREDIT_TRANSFER,
                issue=lambda tid: tokens_engine.issue_credit(key_ref, kwh=kwh, tid=_tid(tid)),
            )
        )
        result = _write_sale(
            actor=actor,
            kind=SaleKind.CREDIT_TRANSFER,
            meter=locked,
            customer=customer,
            point=vending_point,
            client_reference=ref,
            fingerprint=fingerprint,
            planned=planned,
            engine=tokens_engine,
            now=now,
            key_ref=key_ref,
            reason=reason,
        )
    return result.sale


class ReceiptMark(StrEnum):
    ORIGINAL = "original"  # the seller's first print
    REPRINT = "reprint"  # any later print by the seller
    COPY = "copy"  # anyone else's view: not the original, changes nothing


@dataclass(frozen=True)
class ReceiptPrint:
    sale: Sale
    tokens: list[Token]
    mark: ReceiptMark
    tokens_visible: bool


def print_receipt(*, actor: User, sale: Sale, reprint_requested: bool = False) -> ReceiptPrint:
    """The stored tokens for a receipt.

    Only the seller prints (see ``visibility.is_seller``): their first print is the original and
    marks the sale printed, every later one (or one asked for as a reprint) is a REPRINT, so a
    second original can never be handed out. Anyone else in scope gets a COPY that leaves the
    sale as it was, with live digits only if they may see tokens; the view is audited either way
    (``receipt.viewed``), because a receipt shows the customer and often the tokens.
    """
    require_unit_in_scope(actor, sale.meter.org_unit)
    tokens = list(sale.tokens.order_by("sequence"))
    if not visibility.is_seller(actor, sale):
        shown = visibility.may_see_tokens(actor, sale)
        with transaction.atomic():
            record(
                actor=actor,
                event_type="receipt.viewed",
                target=sale,
                after={"tokens_shown": shown},
            )
        return ReceiptPrint(sale, tokens, ReceiptMark.COPY, shown)
    with transaction.atomic():
        printed_at = (
            Sale.objects.select_for_update(of=("self",))
            .values_list("receipt_printed_at", flat=True)
            .get(pk=sale.pk)
        )
        is_reprint = reprint_requested or printed_at is not None
        if printed_at is None:
            now = timezone.now()
            Sale.objects.filter(pk=sale.pk).update(receipt_printed_at=now)
            sale.receipt_printed_at = now
        record(
            actor=actor,
            event_type="sale.reprinted" if is_reprint else "sale.receipt_printed",
            target=sale,
        )
    mark = ReceiptMark.REPRINT if is_reprint else ReceiptMark.ORIGINAL
    return ReceiptPrint(sale, tokens, mark, tokens_visible=True)


def reprint(*, actor: User, sale: Sale) -> SaleResult:
    """The stored tokens of a sale, never new ones; the reprint is audited."""
    require_unit_in_scope(actor, sale.meter.org_unit)
    with transaction.atomic():
        record(actor=actor, event_type="sale.reprinted", target=sale)
    return SaleResult(sale, list(sale.tokens.order_by("sequence")), replayed=True)


def _rebill_fixed_charges(actor: User, sale: Sale) -> None:
    """A reversal refunds the fixed charges too. Normally they simply fall due again, but when a
    later sale already counted the period as paid they would be lost; they become a debt."""
    data = sale.breakdown or {}
    gross = int(data.get("fixed_charges_net_minor", 0)) + sum(
        int(t.get("fixed_amount_minor", 0)) for t in data.get("taxes", [])
    )
    if gross <= 0 or sale.customer is None or sale.fixed_charges_paid_through is None:
        return
    later = (
        Sale.objects.filter(
            customer=sale.customer,
            status=SaleStatus.COMPLETED,
            fixed_charges_paid_through__gte=sale.fixed_charges_paid_through,
        )
        .exclude(pk=sale.pk)
        .exists()
    )
    if later:
        from gridvend.customers.services import open_debt

        open_debt(
            actor=actor,
            customer=sale.customer,
            amount=Money(gross, sale.currency),
            reason=f"fixed charges refunded by the reversal of {sale.reference}",
            source="reversal",
        )


def reverse_sale(
    *,
    actor: User,
    sale: Sale,
    reason: str,
    clock: Clock | None = None,
    requested_by: User | None = None,
    request: ReversalRequest | None = None,
) -> Reversal:
    """Cancel a credit sale's money with a reversing entry. The token stays in the meter, so this
    is a business decision: finance capability, within the window, with a reason.

    ``requested_by`` (the actor when None) and the ``request`` it came from decide where the
    money is paid back: see ``_refund_drawer``."""
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, sale.meter.org_unit)
    if not reason.strip():
        raise _refuse("REASON_REQUIRED", _("A reason is required."))
    now = (clock or SystemClock()).now()
    with transaction.atomic():
        if sale.customer_id is not None:
            Customer.objects.select_for_update().get(pk=sale.customer_id)
        locked = (
            Sale.objects.select_for_update(of=("self",))
            .select_related("journal_entry")
            .get(pk=sale.pk)
        )
        if locked.kind != SaleKind.CREDIT or locked.journal_entry is None:
            raise _refuse(
                "SALE_NOT_REVERSIBLE",
                _("Only credit sales can be reversed."),
                sale=locked.reference,
            )
        if locked.status != SaleStatus.COMPLETED:
            raise _refuse(
                "SALE_ALREADY_REVERSED",
                _("This sale has already been reversed."),
                sale=locked.reference,
            )
        window = timedelta(hours=settings.REVERSAL_WINDOW_HOURS)
        if now - locked.created_at > window:
            raise _refuse(
                "REVERSAL_WINDOW_CLOSED",
                _("Sales can only be reversed within %(hours)s hours.")
                % {"hours": settings.REVERSAL_WINDOW_HOURS},
                hours=settings.REVERSAL_WINDOW_HOURS,
            )
        today = business_date(now, settings.TIME_ZONE)
        entry = ledger.reverse(
            locked.journal_entry,
            actor=actor,
            business_date=today,
            memo=f"reversal of {locked.reference}: {reason.strip()}"[:255],
        )
        for debt_id, amount in (locked.breakdown or {}).get("debt_allocations", []):
            debt = Debt.objects.select_for_update().get(pk=debt_id)
            Debt.objects.filter(pk=debt_id).update(balance_minor=debt.balance_minor + amount)
        Sale.objects.filter(pk=locked.pk).update(status=SaleStatus.REVERSED)
        _rebill_fixed_charges(actor, locked)
        paid_from, refund_shift = _refund_drawer(locked, requested_by or actor, request)
        reversal = Reversal.objects.create(
            sale=locked,
            reason=reason.strip(),
            reversed_by=actor,
            journal_entry=entry,
            refund_shift=refund_shift,
            created_at=now,
        )
        if paid_from == PAID_BY_BACK_OFFICE:
            _record_back_office_refund(
                reversal, requested_by=requested_by or actor, paid_by=actor, day=today
            )
        record(
            actor=actor,
            event_type=REVERSED_EVENT,
            target=locked,
            before={"status": SaleStatus.COMPLETED},
            after={
                "status": SaleStatus.REVERSED,
                "reason": reason.strip(),
                "refund_paid_from": paid_from,
                "digests": reversal_binding(reversal, posted_lines([entry.pk])[entry.pk]),
            },
        )
    sale.status = SaleStatus.REVERSED
    return reversal


def _refund_drawer(
    sale: Sale, requester: User, request: ReversalRequest | None = None
) -> tuple[str, Shift | None]:
    """Decide, under locks, where a reversed sale's money is paid back.

    The person who asked for the reversal is the one facing the customer: the drawer they held
    when they asked pays it, if it is still open. A drawer they opened later (at another point,
    knowing nothing of the refund) never does, nor does the approver's (approvals happen away
    from the counter). Otherwise the back office pays it. Locks: the sale's shift, then the
    paying shift, so a close never counts a drawer while a refund is being added to it.
    """
    if sale.shift_id is None or sale.vending_point_id is None:
        return PAID_THROUGH_CHANNEL, None
    own_status = (
        Shift.objects.select_for_update().values_list("status", flat=True).get(pk=sale.shift_id)
    )
    if own_status == ShiftStatus.OPEN:
        return PAID_FROM_OWN_SHIFT, None
    drawer = request.requester_shift if request is not None else current_shift(requester)
    if drawer is not None and drawer.currency == sale.currency:
        still_open = (
            Shift.objects.select_for_update().filter(pk=drawer.pk, status=ShiftStatus.OPEN).exists()
        )
        if still_open:
            return PAID_FROM_DRAWER, drawer
    return PAID_BY_BACK_OFFICE, None


def _record_back_office_refund(
    reversal: Reversal, *, requested_by: User, paid_by: User, day: Any
) -> BackOfficeRefund:
    sale = reversal.sale
    assert sale.vending_point is not None
    refund = BackOfficeRefund.objects.create(
        reversal=reversal,
        vending_point=sale.vending_point,
        business_date=day,
        payment_method=sale.payment_method or "cash",
        currency=sale.currency,
        amount_minor=sale.tender_minor,
        requested_by=requested_by,
        paid_by=paid_by,
        created_at=reversal.created_at,
    )
    record(
        actor=paid_by,
        event_type="refund.recorded",
        target=refund,
        after={
            "sale": sale.reference,
            "paid_from": PAID_BY_BACK_OFFICE,
            "vending_point": sale.vending_point.code,
            "business_date": day,
            "payment_method": refund.payment_method,
            "amount_minor": refund.amount_minor,
            "currency": refund.currency,
            "requested_by": requested_by.get_username(),
        },
    )
    return refund


# --- two-person decisions ------------------------------------------------------------------------

Decidable = TypeVar("Decidable", ReversalRequest, FreeIssueRequest)


def _lock_for_decision(
    actor: User,
    queryset: QuerySet[Decidable],
    pk: int,
    org_unit: OrgUnit,
    *,
    not_yours: str,
) -> Decidable:
    """Lock a pending request for someone with finance who did not ask for it."""
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, org_unit)
    locked = queryset.select_for_update(of=("self",)).get(pk=pk)
    if locked.status != RequestStatus.PENDING:
        raise _refuse("REQUEST_ALREADY_DECIDED", _("This request has already been decided."))
    if locked.requested_by_id == actor.pk:
        raise _refuse("MAKER_CHECKER_VIOLATION", not_yours)
    return locked


def _record_decision(
    actor: User,
    locked: Decidable,
    *,
    status: str,
    note: str,
    now: datetime,
    event_type: str,
    sale: Sale | None = None,
) -> None:
    """Mark the request decided (keeping the sale an approval made) and audit the decision."""
    extra: dict[str, Any] = {} if sale is None else {"sale": sale}
    type(locked).objects.filter(pk=locked.pk).update(
        status=status, decided_by=actor, decided_at=now, decision_note=note.strip()[:255], **extra
    )
    after = {"note": note} if sale is None else {"sale": sale.reference, "note": note}
    record(actor=actor, event_type=event_type, target=locked, after=after)


# --- reversal requests (maker–checker) ----------------------------------------------------------


def request_reversal(*, actor: User, sale: Sale, reason: str) -> ReversalRequest:
    """Ask for a sale to be reversed; someone else with the finance capability decides."""
    if not (actor.has_capability(Capability.CASHIER) or actor.has_capability(Capability.FINANCE)):
        permissions.require_capability(actor, Capability.CASHIER)
    require_unit_in_scope(actor, sale.meter.org_unit)
    if not reason.strip():
        raise _refuse("REASON_REQUIRED", _("A reason is required."))
    with transaction.atomic():
        locked = Sale.objects.select_for_update(of=("self",)).get(pk=sale.pk)
        if locked.kind != SaleKind.CREDIT or locked.status != SaleStatus.COMPLETED:
            raise _refuse(
                "SALE_NOT_REVERSIBLE",
                _("Only completed credit sales can be reversed."),
                sale=locked.reference,
            )
        if ReversalRequest.objects.filter(sale=locked, status=RequestStatus.PENDING).exists():
            raise _refuse(
                "REVERSAL_ALREADY_REQUESTED",
                _("A reversal of this sale is already waiting for approval."),
                sale=locked.reference,
            )
        drawer = current_shift(actor)
        request = ReversalRequest.objects.create(
            sale=locked, reason=reason.strip()[:255], requested_by=actor, requester_shift=drawer
        )
        record(
            actor=actor,
            event_type="reversal.requested",
            target=request,
            after={
                "sale": locked.reference,
                "reason": request.reason,
                "requester_shift": drawer.pk if drawer is not None else None,
            },
        )
    return request


def _decide(actor: User, request: ReversalRequest) -> ReversalRequest:
    return _lock_for_decision(
        actor,
        ReversalRequest.objects.select_related("sale", "sale__meter", "requested_by"),
        request.pk,
        request.sale.meter.org_unit,
        not_yours=_("Someone other than the requester must decide this reversal."),
    )


def approve_reversal(
    *, actor: User, request: ReversalRequest, note: str = "", clock: Clock | None = None
) -> Reversal:
    now = (clock or SystemClock()).now()
    with transaction.atomic():
        locked = _decide(actor, request)
        reversal = reverse_sale(
            actor=actor,
            sale=locked.sale,
            reason=locked.reason,
            clock=clock,
            requested_by=locked.requested_by,
            request=locked,
        )
        _record_decision(
            actor,
            locked,
            status=RequestStatus.APPROVED,
            note=note,
            now=now,
            event_type="reversal.approved",
        )
    return reversal


def reject_reversal(
    *, actor: User, request: ReversalRequest, note: str, clock: Clock | None = None
) -> ReversalRequest:
    if not note.strip():
        raise _refuse("REASON_REQUIRED", _("A reason is required."))
    now = (clock or SystemClock()).now()
    with transaction.atomic():
        locked = _decide(actor, request)
        _record_decision(
            actor,
            locked,
            status=RequestStatus.REJECTED,
            note=note,
            now=now,
            event_type="reversal.rejected",
        )
        locked.refresh_from_db()
    return locked
