"""Report subscriptions: when each is due and which period it covers (month ends, leap years,
weekdays, the utility's daylight-saving days), one delivery per period however often the job
runs, the e-mail's file holding only the subscriber's scope as it is at send time, nothing for a
deactivated or moved subscriber (the subscription suspended with a stable code), a short e-mail
with a link when the file is too large, the per-user limit, hostile filters, and Arabic."""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import date
from typing import Any

import pytest
from django.core import mail

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.errors import DomainError
from gridvend.reports import rollup, subscriptions
from gridvend.reports.errors import ReportSubscriptionLimit
from gridvend.reports.models import DeliveryStatus, ReportDelivery, ReportSubscription
from tests import factories
from tests.hostile import HOSTILE_QUERY
from tests.reports.support import ZONE, Scene, at, scene, standard_sales

pytestmark = pytest.mark.django_db

# Sold in London's March 2026 (support.standard_sales): the north's 1,100 + 1,200 + 1,300 +
# 1,400 + 1,500 (the 1,600 of 31 March 23:30 UTC is 1 April in London) and the south's 1,700.
NORTH_MARCH = 1100 + 1200 + 1300 + 1400 + 1500
SOUTH_MARCH = 1700


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE
    settings.EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


# Subscribed an hour before the run of 2 April 05:00 UTC that most tests make.
BEFORE_APRIL_2 = at("2026-04-02 04:00")


def _manager(s: Scene, *, email: str = "north@example.com", language: str = "") -> User:
    user = factories.user(s.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    user.email = email
    user.language = language
    user.save(update_fields=["email", "language"])
    return user


def _csv_rows(content: bytes | str) -> list[list[str]]:
    # Django's mail gives a text/* attachment back decoded.
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def _sent() -> list[Any]:
    mail.outbox.clear()
    outbox.drain(kinds=["email"])
    return list(mail.outbox)


# Due dates and periods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("send", "first", "last"),
    [
        (date(2026, 3, 1), date(2026, 2, 28), date(2026, 2, 28)),
        (date(2028, 3, 1), date(2028, 2, 29), date(2028, 2, 29)),
        (date(2027, 1, 1), date(2026, 12, 31), date(2026, 12, 31)),
        (date(2026, 3, 30), date(2026, 3, 29), date(2026, 3, 29)),  # the 23-hour day
    ],
)
def test_daily_covers_the_day_before(send: date, first: date, last: date) -> None:
    assert subscriptions.period_for("daily", None, send) == (first, last)


def test_weekly_is_due_on_its_weekday_only_and_covers_the_seven_days_before() -> None:
    # 2026-03-30 is a Monday (weekday 0); the week before it runs Monday 23 to Sunday 29 March.
    assert subscriptions.period_for("weekly", 0, date(2026, 3, 30)) == (
        date(2026, 3, 23),
        date(2026, 3, 29),
    )
    for day in range(24, 30):  # Tuesday 24 to Sunday 29 March
        assert subscriptions.period_for("weekly", 0, date(2026, 3, day)) is None
    # Across a month and a year end: Friday 1 January 2027 covers 25 to 31 December.
    assert subscriptions.period_for("weekly", 4, date(2027, 1, 1)) == (
        date(2026, 12, 25),
        date(2026, 12, 31),
    )


@pytest.mark.parametrize(
    ("send", "first", "last"),
    [
        (date(2026, 3, 1), date(2026, 2, 1), date(2026, 2, 28)),
        (date(2028, 3, 1), date(2028, 2, 1), date(2028, 2, 29)),
        (date(2027, 1, 1), date(2026, 12, 1), date(2026, 12, 31)),
        (date(2026, 5, 1), date(2026, 4, 1), date(2026, 4, 30)),
    ],
)
def test_monthly_is_due_on_the_first_and_covers_the_month_before(
    send: date, first: date, last: date
) -> None:
    assert subscriptions.period_for("monthly", None, send) == (first, last)
    assert subscriptions.period_for("monthly", None, send.replace(day=2)) is None
    assert subscriptions.period_for("monthly", None, date(send.year, send.month, 28)) is None


def test_the_send_date_is_the_utilitys_local_date_across_daylight_saving() -> None:
    s = scene()
    user = _manager(s)
    subscriptions.subscribe(
        actor=user,
        slug="sales",
        query="",
        format="csv",
        frequency="daily",
        now=at("2026-03-29 12:00"),
    )
    # 29 March 23:30 UTC is 30 March 00:30 in London (summer time): the 30th's send, covering
    # the 29th. An hour earlier (22:30 UTC, 23:30 BST) it is still the 29th: covering the 28th.
    [made] = subscriptions.send_due(now=at("2026-03-29 22:30"))
    assert (made.period_start, made.period_end) == (date(2026, 3, 28), date(2026, 3, 28))
    [made] = subscriptions.send_due(now=at("2026-03-29 23:30"))
    assert (made.period_start, made.period_end) == (date(2026, 3, 29), date(2026, 3, 29))
    # In winter time (26 October) midnight UTC is midnight in London. The days since the 30th
    # of March lie beyond the catch-up window; the week before the 26th is made up, oldest first.
    week = subscriptions.send_due(now=at("2026-10-26 00:00"))
    assert [d.period_start.day for d in week] == [18, 19, 20, 21, 22, 23, 24, 25]


# Delivery ----------------------------------------------------------------------------------------


def test_the_attachment_holds_only_the_subscribers_scope() -> None:
    s = scene()
    standard_sales(s)
    rollup.fold()
    user = _manager(s)
    subscriptions.subscribe(
        actor=user,
        slug="sales",
        query="group=tree",
        format="csv",
        frequency="monthly",
        now=at("2026-03-31 11:00"),
    )
    s.world.admin.email = "admin@example.com"
    s.world.admin.save(update_fields=["email"])
    subscriptions.subscribe(
        actor=s.world.admin,
        slug="sales",
        query="",
        format="csv",
        frequency="monthly",
        now=at("2026-03-31 11:00"),
    )
    assert subscriptions.send_due(now=at("2026-03-31 12:00")) == []  # not the 1st
    made = subscriptions.send_due(now=at("2026-04-01 05:00"))
    assert [d.status for d in made] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    sent = {m.to[0]: m for m in _sent()}
    (name, content, content_type) = sent["north@example.com"].attachments[0]
    assert name.startswith("sales-") and name.endswith(".csv")
    assert content_type.startswith("text/csv")
    rows = _csv_rows(content)
    [total] = [r for r in rows if r and r[0] == "Total"]
    assert f"{NORTH_MARCH:.2f}" in total
    text = "\n".join(",".join(r) for r in rows)
    assert "South" not in text and f"{SOUTH_MARCH:.2f}" not in text
    assert "2026-03-01" in text and "2026-03-31" in text
    # The utility-wide subscriber's file holds both regions.
    (_n, admin_content, _t) = sent["admin@example.com"].attachments[0]
    [admin_total] = [r for r in _csv_rows(admin_content) if r and r[0] == "Total"]
    assert f"{NORTH_MARCH + SOUTH_MARCH:.2f}" in admin_total


def test_the_job_run_twice_sends_each_period_once() -> None:
    s = scene()
    user = _manager(s)
    subscriptions.subscribe(
        actor=user, slug="sales", query="", format="xlsx", frequency="daily", now=BEFORE_APRIL_2
    )
    assert len(subscriptions.send_due(now=at("2026-04-02 05:00"))) == 1
    assert subscriptions.send_due(now=at("2026-04-02 06:00")) == []
    # 23:00 UTC is 00:00 BST on the 3rd: the next day's send, once too.
    assert len(subscriptions.send_due(now=at("2026-04-02 23:00"))) == 1
    assert subscriptions.send_due(now=at("2026-04-03 10:00")) == []
    assert ReportDelivery.objects.count() == 2
    assert OutboxMessage.objects.filter(kind="email").count() == 2


def test_a_deactivated_subscriber_gets_nothing_and_the_subscription_is_suspended() -> None:
    s = scene()
    user = _manager(s)
    sub = subscriptions.subscribe(
        actor=user, slug="sales", query="", format="pdf", frequency="daily", now=BEFORE_APRIL_2
    )
    User.objects.filter(pk=user.pk).update(is_active=False)
    [made] = subscriptions.send_due(now=at("2026-04-02 05:00"))
    assert made.status == DeliveryStatus.FAILED and made.code == "REPORT_SUBSCRIBER_INACTIVE"
    sub.refresh_from_db()
    assert not sub.active and sub.suspended_code == "REPORT_SUBSCRIBER_INACTIVE"
    assert not OutboxMessage.objects.filter(kind="email").exists()
    assert AuditEvent.objects.filter(event_type="report.subscription_suspended").count() == 1
    assert subscriptions.send_due(now=at("2026-04-03 05:00")) == []  # suspended: not due


def test_a_subscriber_moved_out_of_the_unit_gets_nothing() -> None:
    s = scene()
    standard_sales(s)
    rollup.fold()
    user = _manager(s)
    north = s.world.tree.north
    sub = subscriptions.subscribe(
        actor=user,
        slug="sales",
        query=f"unit={north.pk}",
        format="csv",
        frequency="daily",
        now=at("2026-03-30 04:00"),
    )
    User.objects.filter(pk=user.pk).update(org_unit=s.world.tree.south)
    [made] = subscriptions.send_due(now=at("2026-03-30 05:00"))
    assert made.code == "REPORT_SUBSCRIBER_OUT_OF_SCOPE"
    sub.refresh_from_db()
    assert not sub.active and sub.suspended_code == "REPORT_SUBSCRIBER_OUT_OF_SCOPE"
    assert not OutboxMessage.objects.filter(kind="email").exists()
    # Resumed, it is checked again at the next send (and still refused).
    subscriptions.set_active(actor=user, pk=sub.pk, active=True, now=at("2026-03-31 04:00"))
    [made] = subscriptions.send_due(now=at("2026-03-31 05:00"))
    assert made.code == "REPORT_SUBSCRIBER_OUT_OF_SCOPE"


def test_a_file_too_large_is_replaced_by_a_short_email_with_a_link(settings: Any) -> None:
    settings.REPORT_SUBSCRIPTION_ATTACHMENT_BYTES = 100
    settings.PUBLIC_URL = "https://vend.example.com"
    s = scene()
    user = _manager(s)
    subscriptions.subscribe(
        actor=user,
        slug="sales",
        query="group=tree",
        format="csv",
        frequency="daily",
        now=BEFORE_APRIL_2,
    )
    [made] = subscriptions.send_due(now=at("2026-04-02 05:00"))
    assert made.status == DeliveryStatus.TOO_LARGE and made.size_bytes > 100
    [message] = _sent()
    assert message.attachments == []
    assert "too large" in message.body
    link = (
        "https://vend.example.com/reports/sales/?group=tree&date_from=2026-04-01&date_to=2026-04-01"
    )
    assert link in message.body


def test_arabic_subscriber_gets_an_arabic_email_and_file() -> None:
    s = scene()
    user = _manager(s, language="ar")
    subscriptions.subscribe(
        actor=user, slug="sales", query="", format="csv", frequency="daily", now=BEFORE_APRIL_2
    )
    subscriptions.send_due(now=at("2026-04-02 05:00"))
    [message] = _sent()
    assert "مرفق" in message.body
    (_name, content, _type) = message.attachments[0]
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    assert "الإجمالي" in text
    # Headings and notes too, which the builder writes as it builds: none left in English.
    assert "Tender" not in text and "Figures are" not in text and "Sales in" not in text


# Subscribing -------------------------------------------------------------------------------------


def test_subscribing_keeps_the_filters_but_not_the_period_and_is_audited() -> None:
    s = scene()
    user = _manager(s)
    north = s.world.tree.north
    sub = subscriptions.subscribe(
        actor=user,
        slug="sales",
        query=f"date_from=2026-03-01&date_to=2026-03-31&unit={north.pk}&format=pdf&group=tree",
        format="xlsx",
        frequency="weekly",
        weekday=2,
    )
    assert sub.query == f"group=tree&unit={north.pk}"
    assert (sub.format, sub.frequency, sub.weekday) == ("xlsx", "weekly", 2)
    event = AuditEvent.objects.get(event_type="report.subscription_created")
    assert event.actor_id == user.pk
    subscriptions.set_active(actor=user, pk=sub.pk, active=False)
    other = _manager(s, email="other@example.com")
    with pytest.raises(NotFound):
        subscriptions.delete_subscription(actor=other, pk=sub.pk)
    subscriptions.delete_subscription(actor=user, pk=sub.pk)
    assert not ReportSubscription.objects.exists()
    kinds = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {"report.subscription_paused", "report.subscription_deleted"} <= kinds


def test_another_units_filters_or_a_bad_choice_are_refused_at_subscribe_time() -> None:
    s = scene()
    user = _manager(s)
    with pytest.raises(NotFound):
        subscriptions.subscribe(
            actor=user,
            slug="sales",
            query=f"unit={s.world.tree.south.pk}",
            format="csv",
            frequency="daily",
        )
    for kwargs in (
        {"format": "docx", "frequency": "daily"},
        {"format": "csv", "frequency": "hourly"},
        {"format": "csv", "frequency": "weekly"},  # no weekday
        {"format": "csv", "frequency": "weekly", "weekday": 7},
    ):
        with pytest.raises(DomainError):
            subscriptions.subscribe(actor=user, slug="sales", query="", **kwargs)
    with pytest.raises(NotFound):
        subscriptions.subscribe(
            actor=user, slug="no-such", query="", format="csv", frequency="daily"
        )
    assert not ReportSubscription.objects.exists()


def test_hostile_filters_are_refused_with_a_domain_error_or_kept_harmless() -> None:
    s = scene()
    user = _manager(s)
    for value in HOSTILE_QUERY:
        for name in ("unit", "point", "group", "sgc", "ti", "channel", "date_from", "x"):
            with contextlib.suppress(DomainError):
                subscriptions.subscribe(
                    actor=user,
                    slug="sales",
                    query=f"{name}={value}" if isinstance(value, str) else "",
                    format="csv",
                    frequency="daily",
                )
            ReportSubscription.objects.all().delete()
    with pytest.raises(DomainError):
        subscriptions.subscribe(
            actor=user, slug="sales", query="x=" + "a" * 2000, format="csv", frequency="daily"
        )


def test_at_most_the_settings_number_of_subscriptions_per_user(settings: Any) -> None:
    settings.REPORT_SUBSCRIPTIONS_MAX_PER_USER = 2
    s = scene()
    user = _manager(s)
    for _ in range(2):
        subscriptions.subscribe(actor=user, slug="sales", query="", format="csv", frequency="daily")
    with pytest.raises(ReportSubscriptionLimit) as refused:
        subscriptions.subscribe(actor=user, slug="sales", query="", format="csv", frequency="daily")
    assert refused.value.code == "REPORT_SUBSCRIPTION_LIMIT"


# Missed runs and e-mail addresses ----------------------------------------------------------------


def test_a_stopped_worker_makes_up_the_periods_it_missed_once_each() -> None:
    s = scene()
    user = _manager(s)
    kwargs: dict[str, Any] = {"actor": user, "slug": "sales", "query": "", "format": "csv"}
    when = at("2026-03-30 10:00")
    daily = subscriptions.subscribe(**kwargs, frequency="daily", now=when)
    monthly = subscriptions.subscribe(**kwargs, frequency="monthly", now=when)
    weekly = subscriptions.subscribe(**kwargs, frequency="weekly", weekday=2, now=when)
    # No run from the 30th of March until the 3rd of April (a Friday), 05:00 UTC.
    made = subscriptions.send_due(now=at("2026-04-03 05:00"))
    got = [(d.subscription_id, d.period_start, d.period_end) for d in made]
    days = [(daily.pk, date(2026, 3, n), date(2026, 3, n)) for n in (29, 30, 31)]
    days += [(daily.pk, date(2026, 4, n), date(2026, 4, n)) for n in (1, 2)]
    month = [(monthly.pk, date(2026, 3, 1), date(2026, 3, 31))]
    # Wednesday the 1st of April covers the 25th to the 31st of March.
    week = [(weekly.pk, date(2026, 3, 25), date(2026, 3, 31))]
    assert sorted(got) == sorted(days + month + week)
    assert len(_sent()) == 7
    assert subscriptions.send_due(now=at("2026-04-03 06:00")) == []


def test_a_paused_subscription_is_not_made_up_for_its_pause() -> None:
    s = scene()
    user = _manager(s)
    sub = subscriptions.subscribe(
        actor=user, slug="sales", query="", format="csv", frequency="daily", now=BEFORE_APRIL_2
    )
    assert len(subscriptions.send_due(now=at("2026-04-02 05:00"))) == 1
    subscriptions.set_active(actor=user, pk=sub.pk, active=False)
    # Resumed on the 6th: the 3rd to the 5th (the days of the pause) are not sent.
    subscriptions.set_active(actor=user, pk=sub.pk, active=True, now=at("2026-04-06 09:00"))
    made = subscriptions.send_due(now=at("2026-04-06 10:00"))
    assert [(d.period_start, d.period_end) for d in made] == [(date(2026, 4, 5), date(2026, 4, 5))]


def test_no_email_address_is_refused_at_subscribe_and_suspends_at_send() -> None:
    s = scene()
    nobody = _manager(s, email="")
    with pytest.raises(DomainError) as caught:
        subscriptions.subscribe(
            actor=nobody, slug="sales", query="", format="csv", frequency="daily"
        )
    assert caught.value.code == "REPORT_SUBSCRIBER_NO_EMAIL"
    assert not ReportSubscription.objects.exists()
    user = _manager(s)
    sub = subscriptions.subscribe(
        actor=user, slug="sales", query="", format="csv", frequency="daily", now=BEFORE_APRIL_2
    )
    User.objects.filter(pk=user.pk).update(email="")
    [made] = subscriptions.send_due(now=at("2026-04-02 05:00"))
    assert made.status == DeliveryStatus.FAILED and made.code == "REPORT_SUBSCRIBER_NO_EMAIL"
    sub.refresh_from_db()
    assert not sub.active and sub.suspended_code == "REPORT_SUBSCRIBER_NO_EMAIL"
    assert _sent() == []


def test_an_address_the_mail_refuses_suspends_only_its_own_subscription(monkeypatch: Any) -> None:
    """A stored address the mail system refuses (written before addresses were checked) stops
    that subscription with the mail's code; every other subscriber still gets their report, and
    a fault of one delivery (rolled back, tried next run) never stops the others."""
    s = scene()
    standard_sales(s)
    rollup.fold()
    bad, good, faulty = _manager(s), _manager(s, email="second@example.com"), _manager(s)
    subs = {
        user.pk: subscriptions.subscribe(
            actor=user, slug="sales", query="", format="csv", frequency="daily", now=BEFORE_APRIL_2
        )
        for user in (bad, good, faulty)
    }
    User.objects.filter(pk=bad.pk).update(email="north at example")
    real_build = subscriptions._build

    def build(spec: Any, user: User, *args: Any) -> Any:
        if user.pk == faulty.pk:
            raise RuntimeError("a fault in one report")  # injected: any bug, not a refusal
        return real_build(spec, user, *args)

    monkeypatch.setattr(subscriptions, "_build", build)
    made = subscriptions.send_due(now=at("2026-04-02 05:00"))
    by_user = {d.subscription.user_id: d for d in made}
    assert by_user[bad.pk].status == DeliveryStatus.FAILED
    assert by_user[bad.pk].code == "EMAIL_ADDRESS_INVALID"
    assert by_user[good.pk].status == DeliveryStatus.SENT
    assert faulty.pk not in by_user  # rolled back: tried again on the next run
    assert not ReportDelivery.objects.filter(subscription=subs[faulty.pk]).exists()
    subs[bad.pk].refresh_from_db()
    assert not subs[bad.pk].active and subs[bad.pk].suspended_code == "EMAIL_ADDRESS_INVALID"
    assert [m.to for m in _sent()] == [["second@example.com"]]


def test_the_identity_services_refuse_an_address_the_mail_would_refuse() -> None:
    from gridvend.identity import services as identity

    s = scene()
    user = _manager(s)
    for wrong in ("north at example", "a@", "@b.example", "x" * 300 + "@example.com"):
        with pytest.raises(DomainError) as caught:
            identity.update_user(actor=s.world.admin, user=user, email=wrong)
        assert caught.value.code == "VALIDATION_FAILED"
    user.refresh_from_db()
    assert user.email == "north@example.com"
    identity.update_user(actor=s.world.admin, user=user, email="  new@example.com ")
    user.refresh_from_db()
    assert user.email == "new@example.com"
