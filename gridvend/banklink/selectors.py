"""Reads of the bank link: links in scope and their day's figures, reconciliations, and the raw
messages (the auditor's only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from gridvend.banklink import permissions
from gridvend.banklink.models import (
    BankLink,
    Direction,
    RawMessage,
    Reconciliation,
    ReconciliationLine,
    ReconciliationStatus,
)
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.customers.models import Customer
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.meters.models import Meter
from gridvend.org.models import Channel
from gridvend.partners.services import disclosed_address

LINK_PATH = "partner__org_unit__path"
RECON_PATH = "link__partner__org_unit__path"


def customer_address(customer: Customer) -> str:
    """The address of the customer's first metered premise, as partners may be told it."""
    address = (
        Meter.objects.filter(customer=customer, premise__isnull=False)
        .order_by("pk")
        .values_list("premise__address", flat=True)
        .first()
    )
    return disclosed_address(address or "")


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def list_links(actor: User) -> QuerySet[BankLink]:
    _require(permissions.can_view_links(actor))
    return scoped(BankLink.objects.select_related("partner"), actor, path=LINK_PATH)


def get_link(actor: User, pk: int) -> BankLink:
    _require(permissions.can_view_links(actor))
    return get_scoped(BankLink.objects.select_related("partner"), actor, path=LINK_PATH, pk=pk)


def link_for_port(port: int) -> BankLink:
    """The link listening on ``port`` (the server's own read, no actor: it is the bank's)."""
    found = BankLink.objects.select_related("partner").filter(port=port).first()
    if found is None:
        raise NotFound()
    return found


def served_links() -> list[BankLink]:
    """Every enabled link with a port: what `gridvend banklink serve` listens for."""
    return list(
        BankLink.objects.select_related("partner")
        .filter(is_enabled=True, port__isnull=False)
        .order_by("port")
    )


@dataclass(frozen=True)
class LinkStatus:
    link: BankLink
    last_message_at: datetime | None
    messages_today: int
    payments_today: int
    paid_today_minor: int
    cancelled_today: int
    open_reconciliations: int


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day, time.max, tzinfo=zone)
    return start, end


def link_statuses(actor: User, *, day: date | None = None) -> list[LinkStatus]:
    """Each bank's link: its last message, today's counts and totals, open reconciliations."""
    today = day or timezone.localdate()
    start, end = _day_bounds(today)
    found = []
    for link in list_links(actor).order_by("agency_id")[:200]:
        messages = RawMessage.objects.filter(link=link)
        last = messages.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
        received_today = messages.filter(
            direction=Direction.IN, occurred_at__range=(start, end)
        ).count()
        paid = BillPayment.objects.filter(
            channel=Channel.BANK, partner=link.partner, business_date=today
        ).aggregate(
            count=Count("pk", filter=Q(status=PaymentStatus.RECEIVED)),
            total=Sum("amount_minor", filter=Q(status=PaymentStatus.RECEIVED)),
            cancelled=Count("pk", filter=Q(status=PaymentStatus.CANCELLED)),
        )
        found.append(
            LinkStatus(
                link=link,
                last_message_at=last,
                messages_today=received_today,
                payments_today=int(paid["count"] or 0),
                paid_today_minor=int(paid["total"] or 0),
                cancelled_today=int(paid["cancelled"] or 0),
                open_reconciliations=link.reconciliations.filter(
                    status=ReconciliationStatus.OPEN
                ).count(),
            )
        )
    return found


def list_reconciliations(actor: User, *, status: str = "") -> QuerySet[Reconciliation]:
    _require(permissions.can_view_links(actor))
    found = scoped(Reconciliation.objects.select_related("link__partner"), actor, path=RECON_PATH)
    if status:
        found = found.filter(status=status)
    return found.order_by("-bank_date", "-pk")


def get_reconciliation(actor: User, pk: int) -> Reconciliation:
    _require(permissions.can_view_links(actor))
    return get_scoped(
        Reconciliation.objects.select_related("link__partner", "closed_by", "received_by"),
        actor,
        path=RECON_PATH,
        pk=pk,
    )


def reconciliation_lines(reconciliation: Reconciliation) -> QuerySet[ReconciliationLine]:
    return reconciliation.lines.select_related("resolved_by").order_by("kind", "bank_serial")


def get_line(actor: User, pk: int) -> ReconciliationLine:
    _require(permissions.can_view_links(actor))
    return get_scoped(
        ReconciliationLine.objects.select_related("reconciliation__link__partner"),
        actor,
        path=f"reconciliation__{RECON_PATH}",
        pk=pk,
    )


def list_raw_messages(
    actor: User,
    *,
    link: int | None = None,
    direction: str = "",
    day_from: date | None = None,
    day_to: date | None = None,
    message_type: str = "",
    return_code: str = "",
) -> QuerySet[RawMessage]:
    """The raw messages of the links in scope, newest first: auditors only."""
    _require(permissions.can_read_raw_messages(actor))
    found = scoped(
        RawMessage.objects.select_related("link__partner").defer("content"),
        actor,
        path=f"link__{LINK_PATH}",
    )
    if link is not None:
        found = found.filter(link_id=link)
    if direction:
        found = found.filter(direction=direction)
    if day_from is not None:
        found = found.filter(occurred_at__gte=_day_bounds(day_from)[0])
    if day_to is not None:
        found = found.filter(occurred_at__lte=_day_bounds(day_to)[1])
    if message_type:
        found = found.filter(message_type=int(message_type))
    if return_code:
        found = found.filter(return_code=return_code)
    return found.order_by("-occurred_at", "-pk")


def get_raw_message(actor: User, pk: int) -> RawMessage:
    _require(permissions.can_read_raw_messages(actor))
    return get_scoped(
        RawMessage.objects.select_related("link__partner", "session"),
        actor,
        path=f"link__{LINK_PATH}",
        pk=pk,
    )
