"""Free energy: the month's free basic electricity, goodwill free issues, their approval limit and
the requests a second person decides."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from gridvend.approvals import services as approvals
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, SystemClock, business_date
from gridvend.kernel.errors import DuplicateRequest, InvalidAmount, ReasonRequired
from gridvend.kernel.pricing import fbe_due
from gridvend.kernel.tokens import TokenEngine
from gridvend.meters.models import Meter
from gridvend.meters.selectors import find_meter
from gridvend.org.models import VendingPoint
from gridvend.vending import sale_hooks
from gridvend.vending.errors import FbeNotDue, FreeIssueNeedsApproval
from gridvend.vending.events import VendingEvent
from gridvend.vending.locks import FreeIssueWanted, SaleReads
from gridvend.vending.models import FreeIssueRequest, SaleKind, TokenKind
from gridvend.vending.selectors import free_issue_period
from gridvend.vending.services._sale import (
    SaleResult,
    _check_meter_sellable,
    _check_point,
    _require_seller,
    _sale_context,
    _spec,
)
from gridvend.vending.services.engineering import _credit, _Grant, _grant_sale
from gridvend.vending.services.idempotency import AfterWrite, _check_client_reference

MAX_FREE_ISSUE_KWH = Decimal("1000")


def issue_fbe(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
    after_write: AfterWrite | None = None,
) -> SaleResult:
    """This month's free basic electricity on its own, when due and not yet issued."""
    _require_seller(actor)
    _check_point(actor, vending_point)

    def decide(meter: Meter, now: datetime, reads: SaleReads) -> _Grant:
        customer = _check_meter_sellable(meter)
        _version, spec = _spec(reads)
        ctx, _debts = _sale_context(
            customer, spec, reads, business_date(now, settings.TIME_ZONE), lock_debts=False
        )
        due = fbe_due(spec, ctx)
        if due <= 0:
            raise FbeNotDue(meter_number=meter.number)
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
        after_write=after_write,
    )


def free_issue_approval_limit() -> Decimal:
    return Decimal(settings.FREE_ISSUE_APPROVAL_KWH)


def _needs_approval(limit: Decimal, **params: Any) -> FreeIssueNeedsApproval:
    return FreeIssueNeedsApproval(
        limit=str(limit), hours=settings.FREE_ISSUE_PERIOD_HOURS, **params
    )


def _check_free_issue_total(meter: Meter, kwh: Decimal, reads: SaleReads) -> None:
    """Refuse a free issue that would take the meter or the issuer above the limit in the period.

    The totals were read under the meter's lock (taken by the sale path) and then the issuer's
    user row, so two free issues to one meter, or by one person to two meters, are counted one
    after the other.
    """
    limit = free_issue_approval_limit()
    to_meter, by_issuer = reads.free_kwh_to_meter, reads.free_kwh_by_issuer
    if to_meter + kwh > limit or by_issuer + kwh > limit:
        raise _needs_approval(
            limit,
            meter_number=meter.number,
            meter_kwh=str(to_meter),
            issuer_kwh=str(by_issuer),
        )


def _check_free_issue(actor: User, kwh: Decimal, reason: str) -> None:
    if not reason.strip():
        raise ReasonRequired()
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
    def decide(meter: Meter, now: datetime, reads: SaleReads) -> _Grant:
        _check_meter_sellable(meter)
        if not approved:
            _check_free_issue_total(meter, kwh, reads)
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
        # An approved issue runs inside the approval's transaction.
        durable=not approved,
        # An approved issue is not counted against the limit again.
        free_issue=None if approved else FreeIssueWanted(actor.pk, free_issue_period()),
    )


def issue_free_credit(
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


def _may_decide_free_issue(actor: User, request: FreeIssueRequest) -> None:
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, request.meter.org_unit)


FREE_ISSUE_DECISION = approvals.DecisionType(
    model=FreeIssueRequest,
    requested=VendingEvent.FREE_ISSUE_REQUESTED,
    approved=VendingEvent.FREE_ISSUE_APPROVED,
    rejected=VendingEvent.FREE_ISSUE_REJECTED,
    may_decide=_may_decide_free_issue,
    subject="free_issue",
    related=("meter", "vending_point", "vending_point__org_unit", "requested_by"),
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
    sale_hooks.require_online("free_issue")
    if not (
        actor.has_capability(Capability.FINANCE) or actor.has_capability(Capability.CUSTOMER_CARE)
    ):
        permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, vending_point.org_unit)
    ref = _check_client_reference(client_reference)
    _check_free_issue(actor, kwh, reason)
    meter = find_meter(actor, meter_number)
    with transaction.atomic(durable=True):
        existing = FreeIssueRequest.objects.filter(
            vending_point=vending_point, client_reference=ref
        ).first()
        if existing is not None:
            if (existing.meter_id, existing.kwh) != (meter.pk, kwh):
                raise DuplicateRequest(reference=ref)
            return existing
        return approvals.request_decision(
            FREE_ISSUE_DECISION,
            actor=actor,
            after={"meter": meter.number, "kwh": str(kwh), "reason": reason.strip()[:255]},
            vending_point=vending_point,
            client_reference=ref,
            meter=meter,
            kwh=kwh,
            reason=reason.strip()[:255],
            requested_at=(clock or SystemClock()).now(),
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

    def carry_out(locked: FreeIssueRequest) -> approvals.Outcome[SaleResult]:
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
        return approvals.Outcome(
            result, keep={"sale": result.sale}, audit={"sale": result.sale.reference}
        )

    return approvals.approve_decision(
        FREE_ISSUE_DECISION, actor=actor, request=request, note=note, now=now, carry_out=carry_out
    )


def reject_free_issue(
    *, actor: User, request: FreeIssueRequest, note: str, clock: Clock | None = None
) -> FreeIssueRequest:
    return approvals.reject_decision(
        FREE_ISSUE_DECISION,
        actor=actor,
        request=request,
        note=note,
        now=(clock or SystemClock()).now(),
    )
