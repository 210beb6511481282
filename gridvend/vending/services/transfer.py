"""Replacing a meter and moving the credit left in it: the use case that spans meters and
vending, so it lives here (vending builds on meters, never the other way round)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, SystemClock
from gridvend.kernel.errors import InvalidAmount, ReasonRequired
from gridvend.kernel.tokens import TokenEngine
from gridvend.keys.engine import engine_or_default
from gridvend.meters import services as meter_services
from gridvend.meters.models import Installation, Meter
from gridvend.org.models import VendingPoint, VendingPointStatus
from gridvend.vending import sale_hooks
from gridvend.vending.errors import CreditTransferAboveLimit, VendingPointInactive
from gridvend.vending.locks import lock_customer_and_meter, lock_user
from gridvend.vending.models import Sale, SaleKind, TokenKind
from gridvend.vending.services._sale import _PlannedToken, _tid, _write_sale
from gridvend.vending.services.engineering import _key_change_tokens
from gridvend.vending.services.idempotency import _fingerprint


def _check_transfer_total(actor: User, kwh: Decimal, limit: Decimal, now: datetime) -> None:
    """An installer's transfers add up over the free-issue period: a chain of replacements
    (200 kWh each) is as much free energy as one large transfer, and needs finance the same way.
    The installer's own row is locked first, so two transfers at once cannot both pass."""
    lock_user(actor)
    since = now - timedelta(hours=settings.FREE_ISSUE_PERIOD_HOURS)
    done = Sale.objects.filter(
        kind=SaleKind.CREDIT_TRANSFER, operator=actor, created_at__gte=since
    ).aggregate(total=Sum("kwh"))["total"] or Decimal(0)
    if done + kwh > limit:
        raise CreditTransferAboveLimit(
            rule="per_period",
            limit=str(limit),
            hours=settings.FREE_ISSUE_PERIOD_HOURS,
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
    """Units left in a replaced meter, issued to its successor (no money).

    Free energy by another name, so it is guarded like a free issue: installers may move up to
    GRIDVEND_CREDIT_TRANSFER_LIMIT_KWH, anything above needs the finance capability.
    """
    with transaction.atomic(durable=True):
        return _issue_credit_transfer(
            actor=actor,
            meter=meter,
            kwh=kwh,
            vending_point=vending_point,
            reason=reason,
            clock=clock,
            engine=engine,
        )


def _issue_credit_transfer(
    *,
    actor: User,
    meter: Meter,
    kwh: Decimal,
    vending_point: VendingPoint | None,
    reason: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> Sale:
    """The transfer itself, in the caller's transaction (its own, or a meter replacement's).

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
            raise VendingPointInactive(vending_point=vending_point.code)
    if not reason.strip():
        raise ReasonRequired()
    limit = Decimal(settings.CREDIT_TRANSFER_LIMIT_KWH)
    if kwh > limit and not actor.has_capability(Capability.FINANCE):
        raise CreditTransferAboveLimit(rule="per_transfer", limit=str(limit))
    tokens_engine = engine_or_default(engine)
    now = (clock or SystemClock()).now()
    ref = f"transfer-{meter.number}-{int(now.timestamp())}"
    fingerprint = _fingerprint({"op": "transfer", "meter": meter.number, "kwh": str(kwh)})
    customer, locked = lock_customer_and_meter(meter)
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


@dataclass(frozen=True)
class ReplacementResult:
    old_meter: Meter
    new_meter: Meter
    ended_installation: Installation
    installation: Installation
    credit_transfer: Sale | None


def replace_meter(
    *,
    actor: User,
    old_meter: Meter,
    new_meter: Meter,
    reason: str,
    remaining_kwh: Decimal | None = None,
    vending_point: VendingPoint | None = None,
) -> ReplacementResult:
    """Swap a meter in the field: the old one retires, the new one serves the same customer and
    premise, and credit left on the old meter is moved to the new one as a transfer token, all
    in one transaction (a refused transfer leaves the old meter installed)."""
    sale_hooks.require_online("meter_replacement")
    cleaned, kwh = meter_services.check_replacement(
        actor=actor,
        old_meter=old_meter,
        new_meter=new_meter,
        reason=reason,
        remaining_kwh=remaining_kwh,
    )
    with transaction.atomic(durable=True):
        swap = meter_services.swap_meter(
            actor=actor,
            old_meter=old_meter,
            new_meter=new_meter,
            reason=cleaned,
            remaining_kwh=kwh,
        )
        sale = None
        if kwh is not None and kwh > 0:
            sale = _issue_credit_transfer(
                actor=actor,
                meter=swap.new_meter,
                kwh=kwh,
                vending_point=vending_point,
                reason=cleaned,
            )
    return ReplacementResult(
        old_meter=swap.old_meter,
        new_meter=swap.new_meter,
        ended_installation=swap.ended_installation,
        installation=swap.installation,
        credit_transfer=sale,
    )
