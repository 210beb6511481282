"""Report subscriptions: a user's standing order for a report by e-mail, with the report's
filters (the screen's query string), a format and a frequency, each send covering the period
before the send date in the utility's time zone:

- daily: the previous day, sent every day;
- weekly on a weekday: the seven days before, sent on that weekday;
- monthly: the previous calendar month, sent on the 1st.

:func:`send_due` (a periodic job, REPORT_SUBSCRIPTIONS_CRON) finds the subscriptions due on the
local date, and on each of the REPORT_SUBSCRIPTIONS_CATCH_UP_DAYS before it, and sends each once
per period, oldest first: the delivery row's unique (subscription, period) key is inserted in the
transaction that builds, renders and queues the e-mail, so a second run, a retry or a concurrent
worker finds the key taken and sends nothing. A run that dies before it commits leaves no key
and the next run sends; a worker stopped for days sends what it missed when it starts again,
but never for a send date before the subscription was created or last resumed (a paused
subscription is not made up).

The report is built as the subscriber sees it at send time: the scope is re-read from the user
row and the filters are validated again. A deactivated subscriber, or one who may no longer read
the report or its filters (moved out of the unit, a capability taken away), or one without an
e-mail address, gets nothing: the delivery is recorded as failed with a stable code and the
subscription is suspended. Subscribing needs an e-mail address in the first place.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from gridvend.audit import services as audit
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import InvalidInput
from gridvend.notifications import services as notifications
from gridvend.reports import render
from gridvend.reports.base import REPORTS, ReportSpec
from gridvend.reports.errors import (
    ReportSubscriberInactive,
    ReportSubscriberNoEmail,
    ReportSubscriberOutOfScope,
    ReportSubscriptionLimit,
    ReportTooLargeForPdf,
)
from gridvend.reports.events import ReportEvent
from gridvend.reports.models import (
    DeliveryStatus,
    ReportDelivery,
    ReportSubscription,
    SubscriptionFormat,
    SubscriptionFrequency,
)

SEND_JOB = "gridvend.reports.subscriptions.send_due_job"
SEND_SCHEDULE = "gridvend.reports.subscriptions"
# Query keys a subscription does not keep: the period is each send's, the format its own.
NOT_KEPT = ("date_from", "date_to", "format", "csrfmiddlewaretoken")
MAX_QUERY_LENGTH = 1000
ONE_DAY = datetime.timedelta(days=1)

log = logging.getLogger(__name__)


# Periods -----------------------------------------------------------------------------------------


def period_for(
    frequency: str, weekday: int | None, send_date: datetime.date
) -> tuple[datetime.date, datetime.date] | None:
    """The (first, last) local dates a send on ``send_date`` covers, or None when the
    subscription is not due that day."""
    if frequency == SubscriptionFrequency.DAILY:
        return send_date - ONE_DAY, send_date - ONE_DAY
    if frequency == SubscriptionFrequency.WEEKLY:
        if send_date.weekday() != weekday:
            return None
        return send_date - 7 * ONE_DAY, send_date - ONE_DAY
    if frequency == SubscriptionFrequency.MONTHLY:
        if send_date.day != 1:
            return None
        last = send_date - ONE_DAY
        return last.replace(day=1), last
    return None


def local_date(now: datetime.datetime) -> datetime.date:
    return timezone.localtime(now, timezone.get_default_timezone()).date()


# Filters -----------------------------------------------------------------------------------------


def kept_query(query: str) -> str:
    """The filters of ``query`` a subscription keeps, as a query string (bounded)."""
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(reason="above_maximum", field="query", maximum=MAX_QUERY_LENGTH)
    given = QueryDict(query)
    kept = QueryDict(mutable=True)
    for key in sorted(given):
        if key not in NOT_KEPT:
            kept.setlist(key, given.getlist(key))
    return kept.urlencode()


def _with_period(query: str, first: datetime.date, last: datetime.date) -> QueryDict:
    data = QueryDict(query, mutable=True)
    data["date_from"] = first.isoformat()
    data["date_to"] = last.isoformat()
    return data


def _spec(slug: str) -> ReportSpec:
    spec = REPORTS.get(slug)
    if spec is None:
        raise NotFound()
    return spec


def _build(
    spec: ReportSpec, user: User, query: str, first: datetime.date, last: datetime.date
) -> Any:
    if not spec.may_read(user):
        raise AccessDenied()
    values = spec.filterset(_with_period(query, first, last)).values()
    return spec.run(user, values)


# Services ----------------------------------------------------------------------------------------


def subscribe(
    *,
    actor: User,
    slug: str,
    query: str,
    format: str,
    frequency: str,
    weekday: int | None = None,
    now: datetime.datetime | None = None,
) -> ReportSubscription:
    """Subscribe ``actor`` to report ``slug`` with the filters of ``query``. The filters are
    checked now by the report's filter set and its scope (InvalidInput, NotFound for a unit
    outside the subtree), as they will be at every send. At most
    REPORT_SUBSCRIPTIONS_MAX_PER_USER per user (ReportSubscriptionLimit)."""
    spec = _spec(slug)
    if not actor.email:
        raise ReportSubscriberNoEmail()
    if format not in SubscriptionFormat.values:
        raise InvalidInput(reason="invalid_choice", field="format")
    if frequency not in SubscriptionFrequency.values:
        raise InvalidInput(reason="invalid_choice", field="frequency")
    if frequency == SubscriptionFrequency.WEEKLY:
        if weekday is None or not 0 <= weekday <= 6:
            raise InvalidInput(reason="required", field="weekday")
    else:
        weekday = None
    kept = kept_query(query)
    when = now or timezone.now()
    yesterday = local_date(when) - ONE_DAY
    _build(spec, actor, kept, yesterday, yesterday)
    with transaction.atomic():
        # The user's row is the lock: two requests at once cannot both pass the count.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        held = ReportSubscription.objects.filter(user=actor).count()
        if held >= settings.REPORT_SUBSCRIPTIONS_MAX_PER_USER:
            raise ReportSubscriptionLimit(limit=settings.REPORT_SUBSCRIPTIONS_MAX_PER_USER)
        subscription = ReportSubscription.objects.create(
            user=actor,
            slug=slug,
            query=kept,
            format=format,
            frequency=frequency,
            weekday=weekday,
            created_at=when,
            active_since=when,
        )
        audit.record(
            actor=actor,
            event_type=ReportEvent.SUBSCRIPTION_CREATED,
            target=subscription,
            after=_facts(subscription),
        )
    return subscription


def _facts(subscription: ReportSubscription) -> dict[str, Any]:
    return {
        "report": subscription.slug,
        "filters": subscription.query,
        "format": subscription.format,
        "frequency": subscription.frequency,
        "weekday": subscription.weekday,
        "active": subscription.active,
    }


def set_active(
    *, actor: User, pk: int, active: bool, now: datetime.datetime | None = None
) -> ReportSubscription:
    """Pause or resume one of the actor's subscriptions (resuming clears a suspension: the
    next send checks the scope again)."""
    with transaction.atomic():
        subscription = get_subscription(actor, pk, for_update=True)
        before = _facts(subscription)
        fields = ["active", "suspended_code"]
        if active and not subscription.active:
            subscription.active_since = now or timezone.now()
            fields.append("active_since")
        subscription.active = active
        subscription.suspended_code = ""
        subscription.save(update_fields=fields)
        audit.record(
            actor=actor,
            event_type=(
                ReportEvent.SUBSCRIPTION_RESUMED if active else ReportEvent.SUBSCRIPTION_PAUSED
            ),
            target=subscription,
            before=before,
            after=_facts(subscription),
        )
    return subscription


def delete_subscription(*, actor: User, pk: int) -> None:
    with transaction.atomic():
        subscription = get_subscription(actor, pk, for_update=True)
        audit.record(
            actor=actor,
            event_type=ReportEvent.SUBSCRIPTION_DELETED,
            target=subscription,
            before=_facts(subscription),
        )
        subscription.delete()


# Selectors ---------------------------------------------------------------------------------------


def list_subscriptions(actor: User) -> QuerySet[ReportSubscription]:
    """The actor's own subscriptions (nobody reads another's)."""
    return ReportSubscription.objects.filter(user=actor).order_by("id")


def get_subscription(actor: User, pk: int, *, for_update: bool = False) -> ReportSubscription:
    found = list_subscriptions(actor)
    if for_update:
        found = found.select_for_update()
    subscription = found.filter(pk=pk).first()
    if subscription is None:
        raise NotFound()
    return subscription


# Sending -----------------------------------------------------------------------------------------


def send_due_job() -> int:
    return len(send_due())


def send_due(*, now: datetime.datetime | None = None) -> list[ReportDelivery]:
    """Send every active subscription due on the local date of ``now`` or on one of the
    REPORT_SUBSCRIPTIONS_CATCH_UP_DAYS before it (not before it became active), once per period,
    oldest period first. Returns the deliveries this run made (sent, too large or failed)."""
    when = now or timezone.now()
    today = local_date(when)
    window = settings.REPORT_SUBSCRIPTIONS_CATCH_UP_DAYS
    send_dates = [today - n * ONE_DAY for n in range(window, -1, -1)]
    # A month's period starts at most 31 days before its send date.
    sent = set(
        ReportDelivery.objects.filter(
            subscription__active=True, period_start__gte=send_dates[0] - 32 * ONE_DAY
        ).values_list("subscription_id", "period_start")
    )
    made = []
    for subscription in ReportSubscription.objects.filter(active=True).order_by("id"):
        since = local_date(subscription.active_since)
        for send_date in send_dates:
            if send_date < since:
                continue
            period = period_for(subscription.frequency, subscription.weekday, send_date)
            if period is None or (subscription.pk, period[0]) in sent:
                continue
            try:
                delivery = _deliver(subscription.pk, period, when)
            except Exception:
                # A fault of this subscription (its transaction rolled back, so it is tried
                # again next run) never keeps the others from being sent.
                log.exception("report subscription %s: delivery failed", subscription.pk)
                break
            if delivery is not None:
                made.append(delivery)
                if delivery.status == DeliveryStatus.FAILED:
                    break  # suspended: nothing more is sent until it is resumed
    return made


def _deliver(
    pk: int, period: tuple[datetime.date, datetime.date], when: datetime.datetime
) -> ReportDelivery | None:
    first, last = period
    try:
        with transaction.atomic():
            subscription = (
                ReportSubscription.objects.select_related("user", "user__org_unit")
                .filter(pk=pk, active=True)
                .first()
            )
            if subscription is None:
                return None
            # The key first: a second sender of this period waits here (PostgreSQL) for the
            # first to commit, then fails on the unique key and sends nothing.
            delivery = ReportDelivery.objects.create(
                subscription=subscription,
                period_start=first,
                period_end=last,
                status=DeliveryStatus.FAILED,
                created_at=when,
            )
            _send(subscription, delivery)
            return delivery
    except IntegrityError:
        return None


def _send(subscription: ReportSubscription, delivery: ReportDelivery) -> None:
    # The user row as it is now (select_related read it in this transaction).
    user = subscription.user
    spec = REPORTS.get(subscription.slug)
    refusal: DomainError | None = None
    result = None
    language = user.language or settings.LANGUAGE_CODE
    if not user.is_active:
        refusal = ReportSubscriberInactive()
    elif not user.email:
        refusal = ReportSubscriberNoEmail()
    elif spec is None:
        refusal = ReportSubscriberOutOfScope()
    else:
        try:
            # Built in the subscriber's language, as the screen builds it in the reader's: the
            # builders write their headings and notes as they go.
            with translation.override(language):
                result = _build(
                    spec, user, subscription.query, delivery.period_start, delivery.period_end
                )
        except (NotFound, AccessDenied, InvalidInput):
            refusal = ReportSubscriberOutOfScope()
    if refusal is not None or result is None:
        _suspend(subscription, delivery, refusal or ReportSubscriberOutOfScope())
        return
    context = {
        "report": str(result.title),
        "first": delivery.period_start.isoformat(),
        "last": delivery.period_end.isoformat(),
        "link": _link(subscription, delivery),
    }
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves nothing half-queued
            _render_and_queue(subscription, delivery, result, context, language)
    except DomainError as refused:
        # An address the mail system refuses (set before addresses were checked), say: this
        # subscription stops with that code; the others are sent.
        _suspend(subscription, delivery, refused)
        return
    audit.record(
        actor=None,
        event_type=ReportEvent.REPORT_DELIVERED,
        target=subscription,
        after={
            "to": user.username,
            "period": [delivery.period_start.isoformat(), delivery.period_end.isoformat()],
            "status": delivery.status,
            "size_bytes": delivery.size_bytes,
        },
    )


def _render_and_queue(
    subscription: ReportSubscription,
    delivery: ReportDelivery,
    result: Any,
    context: dict[str, str],
    language: str,
) -> None:
    user = subscription.user
    try:
        content, content_type, name = render.render(result, subscription.format, language=language)
    except ReportTooLargeForPdf:
        content, content_type, name = b"", "", ""
    key = f"report-subscription:{subscription.pk}:{delivery.period_start.isoformat()}"
    cap = min(settings.REPORT_SUBSCRIPTION_ATTACHMENT_BYTES, notifications.MAX_ATTACHMENT_BYTES)
    if content and len(content) <= cap:
        notifications.queue_email(
            to=user.email,
            template="report_delivery",
            context=context,
            key=key,
            language=language,
            attachments=[(name, content, content_type)],
        )
        delivery.status = DeliveryStatus.SENT
    else:
        notifications.queue_email(
            to=user.email,
            template="report_too_large",
            context=context,
            key=key,
            language=language,
        )
        delivery.status = DeliveryStatus.TOO_LARGE
    delivery.size_bytes = len(content)
    delivery.save(update_fields=["status", "size_bytes"])


def _link(subscription: ReportSubscription, delivery: ReportDelivery) -> str:
    query = _with_period(subscription.query, delivery.period_start, delivery.period_end)
    path = reverse("backoffice:report-detail", kwargs={"slug": subscription.slug})
    return f"{settings.PUBLIC_URL}{path}?{query.urlencode()}"


def _suspend(
    subscription: ReportSubscription, delivery: ReportDelivery, refusal: DomainError
) -> None:
    delivery.status = DeliveryStatus.FAILED
    delivery.code = str(refusal.code)
    delivery.save(update_fields=["status", "code"])
    before = _facts(subscription)
    subscription.active = False
    subscription.suspended_code = str(refusal.code)
    subscription.save(update_fields=["active", "suspended_code"])
    audit.record(
        actor=None,
        event_type=ReportEvent.SUBSCRIPTION_SUSPENDED,
        target=subscription,
        before=before,
        after={**_facts(subscription), "code": subscription.suspended_code},
    )
