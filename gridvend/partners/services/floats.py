"""A partner's float: top-ups asked by one person with the finance capability and approved by
another (through ``gridvend.approvals``), and the low-float alert, raised once per crossing
(e-mail and SMS queued through ``gridvend.notifications`` with the crossing's audit event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from gridvend.approvals import services as approvals
from gridvend.approvals.models import RequestStatus
from gridvend.audit.services import record
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, SystemClock
from gridvend.kernel.errors import DuplicateRequest, InvalidAmount
from gridvend.kernel.inputs import clean_text
from gridvend.kernel.money import Money
from gridvend.ledger.models import JournalEntry
from gridvend.org.models import VendingPoint
from gridvend.partners import selectors
from gridvend.partners.errors import PartnerInvalid, PartnerNotActive
from gridvend.partners.events import PartnerEvent
from gridvend.partners.locks import lock_partner
from gridvend.partners.models import FloatTopUpRequest, Partner, PartnerPoint, PartnerStatus
from gridvend.partners.notices import queue_low_float_alert
from gridvend.partners.services.setup import MAX_MONEY_MINOR
from gridvend.vending.services.floats import top_up_float_within_transaction


def float_point(partner: Partner) -> VendingPoint:
    """The point whose float account a partner's money is drawn from (a wallet credited from
    a paybill payment, say): see ``_float_point``."""
    return _float_point(partner)


def _may_decide_top_up(actor: User, request: FloatTopUpRequest) -> None:
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, request.partner.org_unit)


TOP_UP_DECISION = approvals.DecisionType(
    model=FloatTopUpRequest,
    requested=PartnerEvent.FLOAT_TOP_UP_REQUESTED,
    approved=PartnerEvent.FLOAT_TOP_UP_APPROVED,
    rejected=PartnerEvent.FLOAT_TOP_UP_REJECTED,
    may_decide=_may_decide_top_up,
    subject="float_top_up",
    related=("partner", "partner__org_unit", "requested_by"),
)


def needs_second_person(amount: Money) -> bool:
    """Above GRIDVEND_FLOAT_TOP_UP_APPROVAL_MINOR (0 by default) a second person approves."""
    return amount.minor > settings.FLOAT_TOP_UP_APPROVAL_MINOR


def _float_point(partner: Partner) -> VendingPoint:
    """The point a top-up is posted through: any of the partner's points shares its one float,
    the default one is used so that the references of one partner meet in one place."""
    found = (
        PartnerPoint.objects.filter(partner=partner)
        .select_related("vending_point__org_unit")
        .order_by("-is_default", "pk")
        .first()
    )
    if found is None:
        raise PartnerInvalid(field="points", problem="add a vending point before topping up")
    return found.vending_point


def _same_request(partner: Partner, reference: str, amount: Money) -> FloatTopUpRequest | None:
    """The request already made under this deposit reference: the same one asked again answers
    it; another amount under the same reference is refused."""
    found = FloatTopUpRequest.objects.filter(partner=partner, reference=reference).first()
    if found is None:
        return None
    if (found.amount_minor, found.currency) != (amount.minor, amount.currency):
        raise DuplicateRequest(reference=reference)
    return found


def request_top_up(
    *,
    actor: User,
    partner: Partner,
    amount: Money,
    reference: str,
    note: str = "",
    clock: Clock | None = None,
) -> FloatTopUpRequest:
    """Ask for money the partner paid in (``reference``: the deposit's) to join its float.

    At or below the single-person limit the top-up is posted at once and the request recorded
    approved by the one who asked; above it, it waits for a second person. Asking again with the
    same reference answers the first request (another amount under it is DUPLICATE_REQUEST).
    """
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, partner.org_unit)
    if amount.currency != partner.currency:
        raise PartnerInvalid(field="amount", problem=f"it must be in {partner.currency}")
    if not amount.is_positive():
        raise InvalidAmount(value=str(amount), reason="the top-up must be more than zero")
    if amount.minor > MAX_MONEY_MINOR:
        raise PartnerInvalid(field="amount", problem="it must be below 10^13")
    ref = clean_text(reference, max_length=64, field="reference", required=True)
    text = clean_text(note, max_length=255, field="note")
    again = _same_request(partner, ref, amount)
    if again is not None:
        return again
    now = (clock or SystemClock()).now()
    try:
        with transaction.atomic(durable=True):
            locked = lock_partner(partner.pk)
            if locked.status == PartnerStatus.CLOSED:
                raise PartnerNotActive(partner=locked.code, status=locked.status)
            point = _float_point(locked)
            request = approvals.request_decision(
                TOP_UP_DECISION,
                actor=actor,
                after={
                    "partner": locked.code,
                    "amount": amount.to_dict(),
                    "reference": ref,
                    "note": text,
                },
                partner=locked,
                amount_minor=amount.minor,
                currency=amount.currency,
                reference=ref,
                note=text,
                requested_at=now,
            )
            if not needs_second_person(amount):
                entry = _post(actor, request, point)
                FloatTopUpRequest.objects.filter(pk=request.pk).update(
                    status=RequestStatus.APPROVED,
                    decided_by=actor,
                    decided_at=now,
                    journal_entry=entry,
                )
                record(
                    actor=actor,
                    event_type=PartnerEvent.FLOAT_TOP_UP_APPROVED,
                    target=request,
                    after={"single_person": True, "journal_entry": entry.pk, "note": ""},
                )
                _check_low_float(locked, now)
    except IntegrityError:
        # The same deposit asked for at the same moment: the first request stands.
        again = _same_request(partner, ref, amount)
        if again is None:
            raise
        return again
    request.refresh_from_db()
    return request


def _post(actor: User, request: FloatTopUpRequest, point: VendingPoint) -> JournalEntry:
    return top_up_float_within_transaction(
        actor=actor,
        vending_point=point,
        amount=Money(request.amount_minor, request.currency),
        reference=request.reference,
    )


def approve_top_up(
    *, actor: User, request: FloatTopUpRequest, note: str = "", clock: Clock | None = None
) -> FloatTopUpRequest:
    """A second person with the finance capability approves: the top-up is posted with the
    decision, in one transaction."""
    now = (clock or SystemClock()).now()
    text = clean_text(note, max_length=255, field="note")

    def carry_out(locked: FloatTopUpRequest) -> approvals.Outcome[JournalEntry]:
        partner = lock_partner(locked.partner_id)
        if partner.status == PartnerStatus.CLOSED:
            raise PartnerNotActive(partner=partner.code, status=partner.status)
        entry = _post(actor, locked, _float_point(partner))
        _check_low_float(partner, now)
        return approvals.Outcome(
            entry, keep={"journal_entry": entry}, audit={"journal_entry": entry.pk}
        )

    approvals.approve_decision(
        TOP_UP_DECISION, actor=actor, request=request, note=text, now=now, carry_out=carry_out
    )
    request.refresh_from_db()
    return request


def reject_top_up(
    *, actor: User, request: FloatTopUpRequest, note: str, clock: Clock | None = None
) -> FloatTopUpRequest:
    """Refuse a top-up request, with a reason; the float is not touched."""
    return approvals.reject_decision(
        TOP_UP_DECISION,
        actor=actor,
        request=request,
        note=clean_text(note, max_length=255, field="note"),
        now=(clock or SystemClock()).now(),
    )


# --- the low-float alert ------------------------------------------------------------------------


def _alert_after(partner: Partner, available: Money) -> dict[str, Any]:
    return {
        "available": available.to_dict(),
        "alert_below": Money(partner.low_float_minor, partner.currency).to_dict(),
        # Who is told: the partner's contacts and finance in its subtree.
        "contacts": [c for c in (partner.contact_email, partner.contact_phone) if c],
        "finance": list(
            selectors.finance_recipients(partner).values_list("username", flat=True)[:100]
        ),
    }


def _check_low_float(partner: Partner, now: datetime) -> str:
    """Compare the (locked) partner's float with its alert level, in the caller's transaction:
    "alerted" when it has just fallen below, "recovered" when it is back, "" when nothing
    changed. Each crossing is recorded once: ``low_float_alerted_at`` remembers it."""
    if partner.low_float_minor <= 0:
        if partner.low_float_alerted_at is not None:
            Partner.objects.filter(pk=partner.pk).update(low_float_alerted_at=None)
        return ""
    available = selectors.float_available(partner)
    low = available.minor < partner.low_float_minor
    if low and partner.low_float_alerted_at is None:
        Partner.objects.filter(pk=partner.pk).update(low_float_alerted_at=now)
        partner.low_float_alerted_at = now
        queued = queue_low_float_alert(partner, available)
        record(
            actor=None,
            event_type=PartnerEvent.LOW_FLOAT_ALERTED,
            target=partner,
            after={**_alert_after(partner, available), "messages": queued},
        )
        return "alerted"
    if not low and partner.low_float_alerted_at is not None:
        Partner.objects.filter(pk=partner.pk).update(low_float_alerted_at=None)
        partner.low_float_alerted_at = None
        record(
            actor=None,
            event_type=PartnerEvent.LOW_FLOAT_RECOVERED,
            target=partner,
            after={"available": available.to_dict()},
        )
        return "recovered"
    return ""


def check_low_float(partner: Partner, *, clock: Clock | None = None) -> str:
    """One partner's low-float check, in its own transaction (see ``_check_low_float``)."""
    now = (clock or SystemClock()).now()
    with transaction.atomic(durable=True):
        return _check_low_float(lock_partner(partner.pk), now)


def after_sale(partner: Partner, *, clock: Clock | None = None) -> str:
    """Called after a partner's sale committed: cheap unless the float is below the alert level
    and not yet alerted (one read of the float account), so sales never queue on the partner."""
    if partner.low_float_minor <= 0:
        return ""
    if selectors.float_available(partner).minor >= partner.low_float_minor:
        return ""
    alerted = (
        Partner.objects.filter(pk=partner.pk).values_list("low_float_alerted_at", flat=True).first()
    )
    if alerted is not None:
        return ""
    return check_low_float(partner, clock=clock)


def check_low_floats(*, clock: Clock | None = None) -> dict[str, int]:
    """Every active partner with an alert level, checked: the sweep a schedule runs (it also
    catches a crossing made by a change of credit line or alert level). Returns the counts."""
    counts = {"alerted": 0, "recovered": 0}
    partners = Partner.objects.filter(status=PartnerStatus.ACTIVE).filter(
        low_float_minor__gt=0
    ) | Partner.objects.filter(low_float_alerted_at__isnull=False)
    for pk in partners.values_list("pk", flat=True).order_by("pk").distinct():
        outcome = check_low_float(Partner(pk=pk), clock=clock)
        if outcome:
            counts[outcome] += 1
    return counts
