"""Reads of mobile money, scoped by the organisation tree: providers (by their aggregator
partner's unit), payments (by their meter's unit, or the partner's when no meter is known),
the raw callbacks (auditors only), refund requests, reconciliations and the daily totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, QuerySet, Sum

from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.mobilemoney import permissions
from gridvend.mobilemoney.models import (
    MobilePayment,
    MobileProvider,
    MobileReconciliation,
    MobileReconciliationLine,
    MobileRefundRequest,
    PaymentState,
    RawCallback,
    StkPush,
)
from gridvend.org.models import PATH_SEGMENT_WIDTH

PROVIDER_PATH = "partner__org_unit__path"
MAX_SEARCH = 40


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def list_providers(actor: User) -> QuerySet[MobileProvider]:
    _require(permissions.can_view_payments(actor))
    return scoped(
        MobileProvider.objects.select_related("partner"), actor, path=PROVIDER_PATH
    ).order_by("code")


def get_provider(actor: User, pk: int) -> MobileProvider:
    _require(permissions.can_view_payments(actor))
    return get_scoped(
        MobileProvider.objects.select_related("partner"), actor, path=PROVIDER_PATH, pk=pk
    )


def _payments_in_scope(actor: User) -> QuerySet[MobilePayment]:
    if not actor.is_active:
        return MobilePayment.objects.none()
    path = actor.org_unit.path
    return MobilePayment.objects.filter(
        Q(meter__org_unit__path__startswith=path)
        | Q(meter__isnull=True, provider__partner__org_unit__path__startswith=path)
    )


def list_payments(
    actor: User,
    *,
    provider: int | None = None,
    state: str = "",
    source: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    q: str = "",
) -> QuerySet[MobilePayment]:
    """Payments in scope, newest first; ``q`` is a transaction id, an account or a meter."""
    _require(permissions.can_view_payments(actor))
    found = _payments_in_scope(actor).select_related("provider", "meter", "sale")
    if provider is not None:
        found = found.filter(provider_id=provider)
    if state:
        found = found.filter(state=state)
    if source:
        found = found.filter(source=source)
    if date_from is not None:
        found = found.filter(business_date__gte=date_from)
    if date_to is not None:
        found = found.filter(business_date__lte=date_to)
    text = q.strip()[:MAX_SEARCH]
    if text:
        compact = "".join(ch for ch in text if not ch.isspace()).upper()
        found = found.filter(
            Q(trans_id=compact)
            | Q(request_id=text)
            | Q(account_ref=compact)
            | Q(meter__number=compact)
        )
    return found.order_by("-received_at", "-pk")


def get_payment(actor: User, pk: int) -> MobilePayment:
    _require(permissions.can_view_payments(actor))
    found = (
        _payments_in_scope(actor)
        .select_related("provider__partner", "meter", "sale", "resolved_by")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def payment_callbacks(actor: User, payment: MobilePayment) -> QuerySet[RawCallback]:
    """What the provider sent about this payment, as it came: the auditor only."""
    _require(permissions.can_read_raw_callbacks(actor))
    return RawCallback.objects.filter(payment=payment).order_by("received_at", "pk")


def payment_refunds(payment: MobilePayment) -> QuerySet[MobileRefundRequest]:
    return MobileRefundRequest.objects.filter(payment=payment).select_related(
        "requested_by", "decided_by"
    )


def get_refund_request(actor: User, pk: int) -> MobileRefundRequest:
    _require(permissions.can_view_payments(actor))
    found = MobileRefundRequest.objects.select_related("payment").filter(pk=pk).first()
    if found is None:
        raise NotFound()
    get_payment(actor, found.payment_id)  # the payment's scope is the request's
    return found


def list_reconciliations(
    actor: User, *, provider: int | None = None, date_from: date | None = None
) -> QuerySet[MobileReconciliation]:
    _require(permissions.can_view_payments(actor))
    found = scoped(
        MobileReconciliation.objects.select_related("provider"),
        actor,
        path=f"provider__{PROVIDER_PATH}",
    )
    if provider is not None:
        found = found.filter(provider_id=provider)
    if date_from is not None:
        found = found.filter(business_date__gte=date_from)
    return found.order_by("-business_date", "-pk")


def get_reconciliation(actor: User, pk: int) -> MobileReconciliation:
    _require(permissions.can_view_payments(actor))
    return get_scoped(
        MobileReconciliation.objects.select_related("provider__partner"),
        actor,
        path=f"provider__{PROVIDER_PATH}",
        pk=pk,
    )


def reconciliation_lines(recon: MobileReconciliation) -> QuerySet[MobileReconciliationLine]:
    return recon.lines.select_related("payment").order_by("kind", "trans_id")


@dataclass(frozen=True)
class DayTotal:
    business_date: date
    provider: str
    state: str
    count: int
    total_minor: int
    currency: str


def daily_totals(
    actor: User, *, date_from: date | None = None, date_to: date | None = None
) -> list[DayTotal]:
    """Count and sum of the payments in scope per day, provider and state (at most 500 rows,
    newest day first): the mobile channel's daily totals."""
    found = list_payments(actor, date_from=date_from, date_to=date_to)
    rows = (
        found.order_by()
        .values("business_date", "provider__code", "state", "currency")
        .annotate(count=Count("pk"), total=Sum("amount_minor"))
        .order_by("-business_date", "provider__code", "state")[:500]
    )
    return [
        DayTotal(
            business_date=row["business_date"],
            provider=row["provider__code"],
            state=str(PaymentState(row["state"]).label),
            count=int(row["count"]),
            total_minor=int(row["total"] or 0),
            currency=row["currency"],
        )
        for row in rows
    ]


def stk_paybills(actor: User) -> QuerySet[MobileProvider]:
    """The paybills a cashier may prompt a customer's phone through: those switched on whose
    aggregator partner serves the cashier's unit — a partner at the cashier's unit or above it
    (a national paybill serves every counter), or inside the cashier's subtree — and not a
    region's paybill at another region's counter. The sale is still checked as the cashier
    sees the meter, and as the partner sells."""
    path = actor.org_unit.path
    width = PATH_SEGMENT_WIDTH + 1
    above = [path[:end] for end in range(width, len(path) + 1, width)]
    serves = Q(partner__org_unit__path__in=above) | Q(partner__org_unit__path__startswith=path)
    return (
        MobileProvider.objects.filter(serves, is_enabled=True)
        .select_related("partner")
        .order_by("code")
    )


def get_own_push(actor: User, pk: int) -> StkPush:
    """A push this person asked for (a cashier follows their own prompts); 404 otherwise."""
    push = (
        StkPush.objects.select_related("provider", "payment", "payment__sale")
        .filter(pk=pk, requested_by=actor)
        .first()
    )
    if push is None:
        raise NotFound()
    return push
