"""Reads of the phone channels, scoped by the paybill's aggregator partner's unit: USSD sessions,
inbound SMS, and the SMS customer care must look at (a delivery that failed for good, or a
message the outbox gave up on)."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet

from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import scoped
from gridvend.jobs.models import OutboxMessage, OutboxStatus
from gridvend.notifications.delivery import SMS_KIND
from gridvend.phone import permissions
from gridvend.phone.models import DeliveryReport, InboundSms, UssdSession

PROVIDER_PATH = "provider__partner__org_unit__path"
MAX_SEARCH = 40


def _require(actor: User) -> None:
    if not permissions.can_view_traffic(actor):
        raise AccessDenied()


def _dates(found: QuerySet, field: str, date_from: date | None, date_to: date | None) -> QuerySet:
    if date_from is not None:
        found = found.filter(**{f"{field}__date__gte": date_from})
    if date_to is not None:
        found = found.filter(**{f"{field}__date__lte": date_to})
    return found


def list_sessions(
    actor: User,
    *,
    state: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    q: str = "",
) -> QuerySet[UssdSession]:
    """USSD sessions newest first; ``q`` is a phone number or a session id."""
    _require(actor)
    found = scoped(UssdSession.objects.select_related("stk_push"), actor, path=PROVIDER_PATH)
    if state:
        found = found.filter(state=state)
    found = _dates(found, "created_at", date_from, date_to)
    text = q.strip()[:MAX_SEARCH]
    if text:
        found = found.filter(Q(phone__contains=text) | Q(session_id=text))
    return found.order_by("-created_at", "-pk")


def list_inbound(
    actor: User,
    *,
    command: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    q: str = "",
) -> QuerySet[InboundSms]:
    """Inbound SMS newest first; ``q`` is a phone number or the aggregator's message id. A
    message that came when no paybill was set belongs to no unit: only the root's people read
    it."""
    _require(actor)
    found = scoped(InboundSms.objects.all(), actor, path=PROVIDER_PATH)
    if actor.org_unit.parent_id is None:
        found = InboundSms.objects.all()
    if command:
        found = found.filter(command="" if command == "none" else command)
    found = _dates(found, "received_at", date_from, date_to)
    text = q.strip()[:MAX_SEARCH]
    if text:
        found = found.filter(Q(phone__contains=text) | Q(message_id=text))
    return found.order_by("-received_at", "-pk")


def sms_for_care(
    actor: User, *, limit: int = 200
) -> tuple[list[DeliveryReport], list[OutboxMessage]]:
    """Failed SMS customer care must look at: delivery reports flagged after the resends, and
    messages the outbox gave up on. Outbox rows belong to no unit: only those who see the whole
    tree (the root's people) read them."""
    _require(actor)
    if actor.org_unit.parent_id is not None:
        return [], []
    reports = list(DeliveryReport.objects.filter(needs_care=True).select_related("outbox")[:limit])
    given_up = list(
        OutboxMessage.objects.filter(kind=SMS_KIND, status=OutboxStatus.FAILED).order_by(
            "-created_at", "-id"
        )[:limit]
    )
    return reports, given_up


def replies(messages: list[InboundSms]) -> dict[str, OutboxMessage]:
    """The reply SMS of each of these inbound messages (by outbox key), to show beside them."""
    keys = [m.reply_key for m in messages if m.reply_key]
    return {row.key: row for row in OutboxMessage.objects.filter(key__in=keys[:200])}
