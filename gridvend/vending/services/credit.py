"""The credit vend and its trial vend (DESIGN §7): a sale for money, by tender or by kWh."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from gridvend.customers.models import Customer
from gridvend.identity.models import User
from gridvend.kernel.clock import Clock, SystemClock, business_date
from gridvend.kernel.errors import InsufficientFloat
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import Breakdown, fbe_due, sale_limits
from gridvend.kernel.tokens import TokenEngine
from gridvend.keys.engine import engine_or_default
from gridvend.ledger.errors import BalanceLimitReached
from gridvend.meters.models import Meter
from gridvend.meters.selectors import find_meter, meter_digits
from gridvend.metrics import counted_vend
from gridvend.org.models import VendingPoint
from gridvend.vending.errors import (
    CashReceivedInvalid,
    CashReceivedTooLow,
    PaymentMethodInvalid,
    PaymentReferenceInvalid,
    QuoteChanged,
    ShiftClosed,
    WalletMeterNotOwn,
)
from gridvend.vending.locks import SaleReads, ShiftWanted, lock_shift_status
from gridvend.vending.models import SaleKind, ShiftStatus, TokenKind
from gridvend.vending.selectors import float_account_code, float_available, shift_required
from gridvend.vending.services._sale import (
    Quote,
    SaleResult,
    _check_meter_sellable,
    _check_point,
    _lock_meter,
    _PlannedToken,
    _price,
    _read,
    _require_seller,
    _sale_context,
    _spec,
    _tid,
    _validate_request,
    _write_sale,
)
from gridvend.vending.services.engineering import _key_change_tokens
from gridvend.vending.services.idempotency import (
    AfterWrite,
    _check_client_reference,
    _fingerprint,
    _run_idempotent,
)
from gridvend.vending.services.shifts import require_open_shift

PAYMENT_METHODS = ("cash", "card", "cheque", "transfer", "mobile_money", "wallet", "float")


@dataclass(frozen=True)
class MeterLookup:
    """What a channel tells its customer before a sale: whose meter, what it may buy, what is
    owed and what is free this month. Nothing is written."""

    meter: Meter
    customer: Customer
    currency: str
    minimum: Money
    maximum: Money | None
    debt_balance: Money
    fbe_due_kwh: Decimal
    key_change_pending: bool


def lookup_meter(*, actor: User, meter_number: str, clock: Clock | None = None) -> MeterLookup:
    """Confirm a meter for a sale (the partner API's meter lookup): refused as a sale would be
    when the meter cannot be sold to (blocked, retired, no active customer, no tariff)."""
    _require_seller(actor)
    now = (clock or SystemClock()).now()
    meter = find_meter(actor, meter_number)
    customer = _check_meter_sellable(meter)
    reads = _read(meter, customer, now)
    _version, spec = _spec(reads)
    ctx, _debts = _sale_context(
        customer, spec, reads, business_date(now, settings.TIME_ZONE), lock_debts=False
    )
    minimum, maximum = sale_limits(spec, ctx)
    return MeterLookup(
        meter=meter,
        customer=customer,
        currency=spec.currency,
        minimum=minimum,
        maximum=maximum,
        debt_balance=ctx.debt_balance or Money(0, spec.currency),
        fbe_due_kwh=fbe_due(spec, ctx),
        key_change_pending=reads.key_change_id is not None,
    )


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
    reads = _read(meter, customer, now)
    plan = _price(meter, customer, reads, tender=tender, kwh=kwh, now=now, lock_debts=False)
    pending = reads.key_change_id is not None
    count = 1 + (1 if plan.breakdown.fbe_kwh > 0 else 0)
    if pending:
        count += 2 if meter.ea == "07" else 4
    return Quote(meter, customer, plan.version, plan.breakdown, pending, count)


@counted_vend
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
    after_write: AfterWrite | None = None,
    wallet_customer_id: int | None = None,
) -> SaleResult:
    """Sell credit by money tendered or by kWh wanted (DESIGN §7).

    ``quoted_tender`` / ``quoted_kwh``: what the breakdown shown to the customer asked for and
    gave. When either is given and the price at the moment of sale differs (a debt opened, a
    tariff published, a month turned in between), nothing is sold: QUOTE_CHANGED.

    ``payment_reference``: the slip, cheque or transaction code of a non-cash tender.
    ``cash_received``: what a cash customer handed over; refused below the price (the change
    is the difference). Neither changes what is sold, so neither is part of the fingerprint: a
    repeat of the request returns the first sale as it was recorded.
    ``after_write``: see ``_run_idempotent``.
    ``wallet_customer_id``: with ``payment_method="wallet"`` (and only then), the customer whose
    prepaid wallet pays (``gridvend.wallet``): the tender is drawn from their wallet account,
    whose kept balance the database never lets go below zero, and the meter must be theirs when
    it is locked (WALLET_METER_NOT_OWN otherwise).
    """
    _require_seller(actor)
    _check_point(actor, vending_point)
    ref = _check_client_reference(client_reference)
    _validate_request(tender, kwh)
    if payment_method not in PAYMENT_METHODS:
        raise PaymentMethodInvalid(payment_method=payment_method)
    if (payment_method == "wallet") != (wallet_customer_id is not None):
        raise PaymentMethodInvalid(payment_method=payment_method)
    payment_reference = _check_payment_reference(payment_reference)
    if cash_received is not None and (payment_method != "cash" or not cash_received.is_positive()):
        raise CashReceivedInvalid()
    fingerprint = _fingerprint(
        {
            "op": "credit",
            "meter": "".join(ch for ch in meter_number if ch.isdigit()),
            "tender": tender.to_dict() if tender is not None else None,
            "kwh": str(kwh) if kwh is not None else None,
            "payment": payment_method,
            **({"wallet": wallet_customer_id} if wallet_customer_id is not None else {}),
        }
    )
    tokens_engine = engine_or_default(engine)
    now = (clock or SystemClock()).now()
    meter_digits(meter_number)
    needs_shift = shift_required(vending_point)

    def body() -> SaleResult:
        # The customer and meter locked in one statement, then every other read in one more
        # (the shift share-locked); a repeated request is found when its sale cannot be
        # written again (see _run_idempotent), so a new one costs no lookup.
        locked = _lock_meter(actor, meter_number)
        customer = _check_meter_sellable(locked)
        if wallet_customer_id is not None and customer.pk != wallet_customer_id:
            raise WalletMeterNotOwn(meter_number=locked.number)
        wanted = ShiftWanted(actor.pk, vending_point.pk, lock=True) if needs_shift else None
        reads = _read(locked, customer, now, shift=wanted)
        shift_id = _sale_shift(actor, vending_point, reads) if needs_shift else None
        if needs_shift and reads.shift_id is None:
            reads = _read(locked, customer, now, shift=wanted)
        plan = _price(locked, customer, reads, tender=tender, kwh=kwh, now=now, lock_debts=True)
        _check_quote(plan.breakdown, quoted_tender, quoted_kwh)
        _check_cash_received(cash_received, plan.breakdown.tender)
        # A float is checked where it is drawn on: the database refuses the posting that would
        # take it below zero, under the float row's lock, at the end of the sale (see except).
        priced.append(plan.breakdown.tender)
        planned, key_ref = _key_change_tokens(locked, tokens_engine, now, reads)
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
            shift_id=shift_id,
            payment_reference=payment_reference,
            cash_received=cash_received,
        )

    priced: list[Money] = []
    try:
        return _run_idempotent(vending_point, ref, fingerprint, body, after_write=after_write)
    except BalanceLimitReached as exc:
        if not vending_point.uses_float or exc.params.get("account") != float_account_code(
            vending_point
        ):
            raise
        required = priced[-1]
        # Read after the sale's transaction ended: what the float holds now.
        available = float_available(vending_point, required.currency)
        raise InsufficientFloat(available=available, required=required) from exc


def _check_payment_reference(reference: str | None) -> str | None:
    text = (reference or "").strip()
    if len(text) > 64:
        raise PaymentReferenceInvalid()
    return text or None


def _check_quote(
    breakdown: Breakdown, quoted_tender: Money | None, quoted_kwh: Decimal | None
) -> None:
    """The sale is the breakdown the customer agreed to, or nothing: a cashier must never take
    the quoted sum for a sale that is now priced differently."""
    tender_moved = quoted_tender is not None and breakdown.tender != quoted_tender
    kwh_moved = quoted_kwh is not None and breakdown.kwh != quoted_kwh
    if tender_moved or kwh_moved:
        raise QuoteChanged(due=str(breakdown.tender), kwh=str(breakdown.kwh))


def _check_cash_received(cash_received: Money | None, price: Money) -> None:
    if cash_received is None:
        return
    if cash_received.currency != price.currency or cash_received < price:
        raise CashReceivedTooLow(received=str(cash_received), due=str(price))


def _sale_shift(actor: User, point: VendingPoint, reads: SaleReads) -> int:
    """The seller's open shift, share-locked by the sale's read so that the shift's close and
    the sale never interleave (the close would miss the sale). Where the read found none, why:
    no shift open here (SHIFT_NOT_OPEN), or it closed while the sale waited (SHIFT_CLOSED)."""
    if reads.shift_id is not None:
        return reads.shift_id
    shift = require_open_shift(actor, point)
    assert shift is not None
    if lock_shift_status(shift.pk) != ShiftStatus.OPEN:
        raise ShiftClosed(action="sell")
    return shift.pk
