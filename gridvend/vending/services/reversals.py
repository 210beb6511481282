"""Reversals: cancelling a credit sale's money, paying the refund from the right drawer, and the
reversal requests a second person decides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from gridvend.approvals import services as approvals
from gridvend.audit.services import record
from gridvend.customers.models import Debt
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, SystemClock, business_date
from gridvend.kernel.errors import ReasonRequired
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import posted_lines
from gridvend.vending import sale_hooks
from gridvend.vending.errors import (
    ReversalAlreadyRequested,
    ReversalWindowClosed,
    SaleAlreadyReversed,
    SaleNotReversible,
)
from gridvend.vending.events import VendingEvent
from gridvend.vending.integrity.sales import reversal_binding
from gridvend.vending.locks import (
    lock_debt,
    lock_open_drawer,
    lock_sale,
    lock_sale_for_reversal,
    lock_shift_status,
)
from gridvend.vending.models import (
    PAID_BY_BACK_OFFICE,
    PAID_FROM_DRAWER,
    PAID_FROM_OWN_SHIFT,
    PAID_THROUGH_CHANNEL,
    BackOfficeRefund,
    RequestStatus,
    Reversal,
    ReversalRequest,
    Sale,
    SaleKind,
    SaleStatus,
    Shift,
    ShiftStatus,
)
from gridvend.vending.reversal_hooks import run_reversal_hooks
from gridvend.vending.selectors import current_shift

# Sales for money: their entry can be reversed (the token of a credit sale stays in the meter).
REVERSIBLE_KINDS = frozenset({SaleKind.CREDIT, SaleKind.DEBT_PAYMENT})


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
        # The body, not the use case: the debt is part of this reversal's transaction.
        from gridvend.customers.services import open_debt_of_reversal

        open_debt_of_reversal(
            actor=actor,
            customer=sale.customer,
            amount=Money(gross, sale.currency),
            reason=f"fixed charges refunded by the reversal of {sale.reference}",
        )


def reverse_sale(*, actor: User, sale: Sale, reason: str, clock: Clock | None = None) -> Reversal:
    """Cancel a credit sale's money with a reversing entry. The token stays in the meter, so this
    is a business decision: finance capability, within the window, with a reason. The money is
    paid back where ``_refund_drawer`` decides for the actor as the one who asked."""
    with transaction.atomic(durable=True):
        reversal = _reverse_sale(actor=actor, sale=sale, reason=reason, clock=clock)
    sale.status = SaleStatus.REVERSED
    return reversal


def reverse_channel_sale(
    *, actor: User, sale: Sale, reason: str, window: timedelta, clock: Clock | None = None
) -> Reversal:
    """A channel's seller undoes its own sale (a partner's reversal advice), in the caller's
    transaction: only a sale it made itself, with no cashier shift, within ``window``. The money
    goes back where it came from (the float), through the same reversing entry as any reversal."""
    return _reverse_sale(actor=actor, sale=sale, reason=reason, clock=clock, by_seller=window)


def _reverse_sale(
    *,
    actor: User,
    sale: Sale,
    reason: str,
    clock: Clock | None = None,
    requested_by: User | None = None,
    request: ReversalRequest | None = None,
    by_seller: timedelta | None = None,
) -> Reversal:
    """The reversal itself, in the caller's transaction (a direct reversal's or an approval's).

    ``requested_by`` (the actor when None) and the ``request`` it came from decide where the
    money is paid back: see ``_refund_drawer``. ``by_seller``: the window within which a
    channel's seller (a partner's service account) undoes its own unconfirmed sale, which needs
    no finance capability: see ``reverse_channel_sale``."""
    sale_hooks.require_online("reversal")
    if by_seller is None:
        permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, sale.meter.org_unit)
    if not reason.strip():
        raise ReasonRequired()
    now = (clock or SystemClock()).now()
    locked = lock_sale_for_reversal(sale)
    if by_seller is not None and (locked.operator_id != actor.pk or locked.shift_id is not None):
        permissions.require_capability(actor, Capability.FINANCE)
    if locked.kind not in REVERSIBLE_KINDS or locked.journal_entry is None:
        raise SaleNotReversible(sale=locked.reference, step="reverse")
    if locked.status != SaleStatus.COMPLETED:
        raise SaleAlreadyReversed(sale=locked.reference)
    window = by_seller or timedelta(hours=settings.REVERSAL_WINDOW_HOURS)
    if now - locked.created_at > window:
        hours = window.total_seconds() / 3600
        raise ReversalWindowClosed(hours=int(hours) if hours == int(hours) else round(hours, 2))
    today = business_date(now, settings.TIME_ZONE)
    # The drawers before the books: a posting to a float locks its row until commit, and a sale
    # holds its shift before it posts (vending.locks), so the shifts come first here too.
    paid_from, refund_shift = _refund_drawer(locked, requested_by or actor, request)
    entry = ledger.reverse_journal_entry(
        locked.journal_entry,
        actor=actor,
        business_date=today,
        memo=f"reversal of {locked.reference}: {reason.strip()}"[:255],
        # A field agent's cash sale whose cash was handed in since: paid back from the office's
        # cash, which took it in, never from the agent's cash in transit (below zero).
        substitute=ledger.handed_in_substitutes(locked.journal_entry),
    )
    restored: list[tuple[int, int]] = []
    for debt_id, amount in (locked.breakdown or {}).get("debt_allocations", []):
        debt = lock_debt(debt_id)
        Debt.objects.filter(pk=debt_id).update(balance_minor=debt.balance_minor + amount)
        restored.append((int(debt_id), int(amount)))
    if restored:
        # What the recovery had already paid elsewhere (a postpaid bill) is taken back with it.
        run_reversal_hooks(locked, restored, actor, now)
    Sale.objects.filter(pk=locked.pk).update(status=SaleStatus.REVERSED)
    _rebill_fixed_charges(actor, locked)
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
        event_type=VendingEvent.SALE_REVERSED,
        target=locked,
        before={"status": SaleStatus.COMPLETED},
        after={
            "status": SaleStatus.REVERSED,
            "reason": reason.strip(),
            "refund_paid_from": paid_from,
            "digests": reversal_binding(reversal, posted_lines([entry.pk])[entry.pk]),
        },
    )
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
    if sale.shift_id is None or sale.vending_point_id is None or sale.payment_method == "wallet":
        # A wallet-funded sale's reversing entry credits the wallet again: no cash moves.
        return PAID_THROUGH_CHANNEL, None
    own_status = lock_shift_status(sale.shift_id)
    if own_status == ShiftStatus.OPEN:
        return PAID_FROM_OWN_SHIFT, None
    drawer = request.requester_shift if request is not None else current_shift(requester)
    if drawer is not None and drawer.currency == sale.currency and lock_open_drawer(drawer):
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
        event_type=VendingEvent.REFUND_RECORDED,
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


def _may_decide_reversal(actor: User, request: ReversalRequest) -> None:
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, request.sale.meter.org_unit)


REVERSAL_DECISION = approvals.DecisionType(
    model=ReversalRequest,
    requested=VendingEvent.REVERSAL_REQUESTED,
    approved=VendingEvent.REVERSAL_APPROVED,
    rejected=VendingEvent.REVERSAL_REJECTED,
    may_decide=_may_decide_reversal,
    subject="reversal",
    related=("sale", "sale__meter", "requested_by"),
)


def request_reversal(*, actor: User, sale: Sale, reason: str) -> ReversalRequest:
    """Ask for a sale to be reversed; someone else with the finance capability decides."""
    sale_hooks.require_online("reversal")
    if not (actor.has_capability(Capability.CASHIER) or actor.has_capability(Capability.FINANCE)):
        permissions.require_capability(actor, Capability.CASHIER)
    require_unit_in_scope(actor, sale.meter.org_unit)
    if not reason.strip():
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        locked = lock_sale(sale)
        if locked.kind not in REVERSIBLE_KINDS or locked.status != SaleStatus.COMPLETED:
            raise SaleNotReversible(sale=locked.reference, step="request")
        if ReversalRequest.objects.filter(sale=locked, status=RequestStatus.PENDING).exists():
            raise ReversalAlreadyRequested(sale=locked.reference)
        drawer = current_shift(actor)
        return approvals.request_decision(
            REVERSAL_DECISION,
            actor=actor,
            after={
                "sale": locked.reference,
                "reason": reason.strip()[:255],
                "requester_shift": drawer.pk if drawer is not None else None,
            },
            sale=locked,
            reason=reason.strip()[:255],
            requester_shift=drawer,
        )


def approve_reversal(
    *, actor: User, request: ReversalRequest, note: str = "", clock: Clock | None = None
) -> Reversal:
    """Reverse the requested sale as the approver; the refund is paid where the requester is."""
    now = (clock or SystemClock()).now()

    def carry_out(locked: ReversalRequest) -> approvals.Outcome[Reversal]:
        reversal = _reverse_sale(
            actor=actor,
            sale=locked.sale,
            reason=locked.reason,
            clock=clock,
            requested_by=locked.requested_by,
            request=locked,
        )
        return approvals.Outcome(reversal)

    reversal = approvals.approve_decision(
        REVERSAL_DECISION, actor=actor, request=request, note=note, now=now, carry_out=carry_out
    )
    request.sale.status = SaleStatus.REVERSED
    return reversal


def reject_reversal(
    *, actor: User, request: ReversalRequest, note: str, clock: Clock | None = None
) -> ReversalRequest:
    return approvals.reject_decision(
        REVERSAL_DECISION,
        actor=actor,
        request=request,
        note=note,
        now=(clock or SystemClock()).now(),
    )
