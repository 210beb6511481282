"""Confirmation and reversal advices, and the policy that makes a sale final when none came.

Advices are store-and-forward: a partner repeats one until it gets a final answer, may send
several at once, out of order, twice, or before the request it names has arrived. So each advice
id is recorded once with its outcome, a repeat gets that outcome again, and an advice that names
an unknown request is kept: a confirmation is applied when the request arrives; a reversal
stands in the request's place, so that a late request sells nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from gridvend.audit.services import record
from gridvend.kernel.clock import Clock, FixedClock, SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.partners.errors import (
    AdviceConflict,
    RequestAlreadyReversed,
    RequestNotFound,
    SaleAlreadyConfirmed,
    SaleAlreadySettled,
)
from gridvend.partners.events import PartnerEvent
from gridvend.partners.locks import lock_request
from gridvend.partners.models import (
    AdviceKind,
    AdviceOutcome,
    Partner,
    PartnerAdvice,
    PartnerRequest,
    RequestKind,
    SaleState,
    UnconfirmedPolicy,
)
from gridvend.partners.services.selling import (
    Call,
    _check_request_id,
    partner_point,
    refusal_of,
    require_active,
)
from gridvend.vending import services as vending
from gridvend.vending.errors import SaleAlreadyReversed
from gridvend.vending.models import Sale, SaleStatus

log = logging.getLogger(__name__)

REASONS = ("TIMEOUT", "CANCELLED", "RESPONSE_NOT_FINAL", "CUSTOMER_CANCELLED", "OTHER")


@dataclass(frozen=True)
class AdviceAnswer:
    """An advice's outcome (applied, or nothing to do) and the request it names."""

    advice: PartnerAdvice
    request: PartnerRequest


def confirm(
    call: Call, advice_id: str, request_id: str, *, clock: Clock | None = None
) -> AdviceAnswer:
    """The partner's customer has the token: the sale is final and can no longer be reversed."""
    return _advise(call, AdviceKind.CONFIRMATION, advice_id, request_id, "", clock)


def reverse(
    call: Call, advice_id: str, request_id: str, *, reason: str = "", clock: Clock | None = None
) -> AdviceAnswer:
    """The partner's customer did not get the token (a timeout, a cancel): undo the sale and
    give the float its money back, inside the partner's reversal window, unless confirmed."""
    return _advise(call, AdviceKind.REVERSAL, advice_id, request_id, reason, clock)


def _advise(
    call: Call, kind: str, advice_id: str, request_id: str, reason: str, clock: Clock | None
) -> AdviceAnswer:
    partner = call.partner
    advice_id = _check_request_id(advice_id)
    request_id = _check_request_id(request_id)
    reason = (reason or "").strip().upper()[:40]
    require_active(partner)
    now = (clock or SystemClock()).now()
    for _attempt in range(2):
        outcome: tuple[PartnerAdvice, PartnerRequest | None, DomainError | None]
        try:
            with transaction.atomic(durable=True):
                outcome = _apply(call, kind, advice_id, request_id, reason, now)
        except IntegrityError:
            # The advice id, or the request's row, was written concurrently: look again.
            continue
        advice, request, refusal = outcome
        if refusal is not None:
            raise refusal
        assert request is not None
        return AdviceAnswer(advice, request)
    raise AdviceConflict(advice_id=advice_id)


def _apply(
    call: Call, kind: str, advice_id: str, request_id: str, reason: str, now: datetime
) -> tuple[PartnerAdvice, PartnerRequest | None, DomainError | None]:
    """One advice under the request's lock: what it did and the refusal to send, if any. A
    refusal is recorded and committed (the advice's answer is final), then raised by the caller."""
    partner = call.partner
    advice = (
        PartnerAdvice.objects.select_for_update()
        .filter(partner=partner, advice_id=advice_id)
        .first()
    )
    if advice is not None:
        if advice.kind != kind or advice.request_ref != request_id:
            return advice, None, AdviceConflict(advice_id=advice_id)
        PartnerAdvice.objects.filter(pk=advice.pk).update(
            times_seen=F("times_seen") + 1, last_seen_at=now
        )
        if advice.outcome == AdviceOutcome.REFUSED:
            return advice, advice.request, _stored_refusal(advice)
        if advice.outcome != AdviceOutcome.UNMATCHED:
            assert advice.request is not None
            return advice, advice.request, None
    request = lock_request(partner, request_id)
    if request is None:
        return _unmatched(call, advice, kind, advice_id, request_id, reason, now)
    _follow_sale(request, now)
    refusal: DomainError | None = None
    result = AdviceOutcome.ALREADY
    if request.sale_id is None:
        # Declined, or reversed by an advice before it came: nothing was sold. Nothing to undo;
        # but a confirmation of what the partner itself reversed contradicts it: say so.
        if kind == AdviceKind.CONFIRMATION and request.state == SaleState.REVERSED:
            refusal = RequestAlreadyReversed(request_id=request_id)
    elif kind == AdviceKind.CONFIRMATION:
        if request.state == SaleState.PENDING:
            _finalise(request, SaleState.CONFIRMED, "advice", now)
            record(
                actor=partner.service_user,
                event_type=PartnerEvent.SALE_CONFIRMED,
                target=request,
                after={"request_id": request_id, "advice_id": advice_id},
            )
            result = AdviceOutcome.APPLIED
        elif request.state == SaleState.REVERSED:
            assert request.sale is not None
            refusal = SaleAlreadyReversed(sale=request.sale.reference)
    elif request.state == SaleState.PENDING:
        try:
            with transaction.atomic():
                _reverse(request, partner, reason or "REVERSAL_ADVICE", now)
        except DomainError as exc:  # the window closed: the sale stands
            refusal = exc
        else:
            record(
                actor=partner.service_user,
                event_type=PartnerEvent.SALE_REVERSED,
                target=request,
                after={"request_id": request_id, "advice_id": advice_id, "reason": reason},
            )
            result = AdviceOutcome.APPLIED
    elif request.state in (SaleState.CONFIRMED, SaleState.EXPIRED):
        refusal = (
            SaleAlreadySettled(request_id=request_id)
            if request.settled_at is not None
            else SaleAlreadyConfirmed(request_id=request_id)
        )
    if refusal is not None:
        result = AdviceOutcome.REFUSED
    advice = _save_advice(
        call, advice, kind, advice_id, request_id, reason, now, result, request, refusal
    )
    return advice, request, refusal


def _unmatched(
    call: Call,
    advice: PartnerAdvice | None,
    kind: str,
    advice_id: str,
    request_id: str,
    reason: str,
    now: datetime,
) -> tuple[PartnerAdvice, PartnerRequest | None, DomainError | None]:
    """An advice for a request not known (yet). A reversal takes the request id's place, so the
    request, if it comes, sells nothing; a confirmation waits for it. Both answer 'not found'."""
    if kind == AdviceKind.REVERSAL:
        # The unique request id makes this row and a concurrent sale's row exclusive: whichever
        # commits second fails and looks again (here: IntegrityError in ``_advise``).
        PartnerRequest.objects.create(
            partner=call.partner,
            request_id=request_id,
            kind=RequestKind.PURCHASE,
            interface=call.interface,
            fingerprint="",
            vending_point=partner_point(call.partner, call.vending_point),
            state=SaleState.REVERSED,
            error_code="REQUEST_ALREADY_REVERSED",
            created_at=now,
            finalised_at=now,
            finalised_by="advice",
        )
    saved = _save_advice(
        call, advice, kind, advice_id, request_id, reason, now, AdviceOutcome.UNMATCHED, None, None
    )
    return saved, None, RequestNotFound(request_id=request_id)


def _save_advice(
    call: Call,
    advice: PartnerAdvice | None,
    kind: str,
    advice_id: str,
    request_id: str,
    reason: str,
    now: datetime,
    outcome: str,
    request: PartnerRequest | None,
    refusal: DomainError | None,
) -> PartnerAdvice:
    fields: dict[str, Any] = {
        "outcome": outcome,
        "request": request,
        "error_code": str(refusal.code)[:40] if refusal is not None else "",
        "echo": {**call.echo, "error_params": refusal.as_dict()["params"]}
        if refusal
        else call.echo,
    }
    if advice is None:
        return PartnerAdvice.objects.create(
            partner=call.partner,
            advice_id=advice_id,
            kind=kind,
            request_ref=request_id,
            reason=reason,
            interface=call.interface,
            received_at=now,
            last_seen_at=now,
            **fields,
        )
    PartnerAdvice.objects.filter(pk=advice.pk).update(**fields)
    for name, value in fields.items():
        setattr(advice, name, value)
    return advice


def _follow_sale(request: PartnerRequest, now: datetime) -> None:
    """A pending request whose sale was reversed another way (finance in the back office, a
    settlement resolution) is reversed too: the request follows its sale. Under its lock."""
    if request.state != SaleState.PENDING or request.sale_id is None:
        return
    status = Sale.objects.filter(pk=request.sale_id).values_list("status", flat=True).first()
    if status == SaleStatus.REVERSED:
        _finalise(request, SaleState.REVERSED, "sale", now)


def _stored_refusal(advice: PartnerAdvice) -> DomainError:
    stand_in = PartnerRequest(
        error_code=advice.error_code, error_params=advice.echo.get("error_params", {})
    )
    return refusal_of(stand_in)


def _finalise(request: PartnerRequest, state: str, by: str, now: datetime) -> None:
    PartnerRequest.objects.filter(pk=request.pk).update(
        state=state, finalised_at=now, finalised_by=by
    )
    request.state, request.finalised_at, request.finalised_by = state, now, by


def _reverse(request: PartnerRequest, partner: Partner, reason: str, now: datetime) -> None:
    assert request.sale_id is not None
    sale = Sale.objects.select_related("meter__org_unit", "journal_entry").get(pk=request.sale_id)
    window = timedelta(minutes=partner.reversal_window_minutes)
    vending.reverse_channel_sale(
        actor=partner.service_user,
        sale=sale,
        reason=f"partner {partner.code} reversal advice: {reason}"[:200],
        window=window,
        clock=FixedClock(now),
    )
    _finalise(request, SaleState.REVERSED, "advice", now)


def finalise_unconfirmed(*, clock: Clock | None = None, limit: int = 500) -> dict[str, int]:
    """Apply each partner's policy to its sales still unconfirmed after its window: confirm them
    (state expired: they stand) or reverse them. One transaction per sale; run by a job."""
    now = (clock or SystemClock()).now()
    done = {"expired": 0, "reversed": 0, "skipped": 0}
    waiting = Partner.objects.filter(requests__state=SaleState.PENDING).distinct()
    for partner in waiting.select_related("service_user"):
        cutoff = now - timedelta(minutes=partner.confirmation_window_minutes)
        due = PartnerRequest.objects.filter(
            partner=partner, state=SaleState.PENDING, created_at__lte=cutoff
        ).order_by("created_at")
        for request in due[:limit]:
            try:
                _finalise_one(partner, request, now, done)
            except DomainError as exc:
                # One sale the policy cannot apply to (its meter's unit moved out of the
                # partner's scope, say) must not stop the others: it stays pending, logged.
                log.warning(
                    "partner %s request %s not finalised: %s", partner.code, request.request_id, exc
                )
                done["skipped"] += 1
    return done


def _finalise_one(
    partner: Partner, request: PartnerRequest, now: datetime, done: dict[str, int]
) -> None:
    with transaction.atomic(durable=True):
        locked = lock_request(partner, request.request_id)
        if locked is not None:
            _follow_sale(locked, now)
        if locked is None or locked.state != SaleState.PENDING:
            done["skipped"] += 1
            return
        if partner.unconfirmed_policy == UnconfirmedPolicy.AUTO_REVERSE:
            assert locked.sale_id is not None
            sale = Sale.objects.select_related("meter__org_unit", "journal_entry").get(
                pk=locked.sale_id
            )
            vending.reverse_channel_sale(
                actor=partner.service_user,
                sale=sale,
                reason=f"partner {partner.code}: not confirmed in time",
                # The policy decides, whatever the partner's own reversal window.
                window=now - sale.created_at + timedelta(minutes=1),
                clock=FixedClock(now),
            )
            _finalise(locked, SaleState.REVERSED, "policy", now)
            done["reversed"] += 1
        else:
            _finalise(locked, SaleState.EXPIRED, "policy", now)
            done["expired"] += 1
        record(
            actor=None,
            event_type=PartnerEvent.SALE_EXPIRED,
            target=locked,
            after={"request_id": locked.request_id, "state": locked.state},
        )
