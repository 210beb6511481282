"""The subscription screens: subscribe from a report's page keeping its filters, my
subscriptions listed with pause, resume and delete (each audited), another person's answers 404,
and no hostile form value answers a server error."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.reports.models import ReportSubscription
from tests import factories
from tests.hostile import HOSTILE_QUERY
from tests.reports.support import ZONE, scene
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _london(settings: Any) -> None:
    settings.TIME_ZONE = ZONE


def _manager(s: Any, *, email: str = "north@example.com") -> User:
    user = factories.user(s.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    User.objects.filter(pk=user.pk).update(email=email)
    user.email = email
    return user


def test_subscribe_from_the_report_page_keeps_its_filters_then_pause_resume_delete() -> None:
    s = scene()
    user = _manager(s)
    client = signed_in(user)
    north = s.world.tree.north
    detail = reverse("backoffice:report-detail", kwargs={"slug": "sales"})
    page = client.get(f"{detail}?date_from=2026-03-01&date_to=2026-03-31&unit={north.pk}")
    body = page.content.decode()
    # The button's form carries the screen's filters, less the period.
    assert f'name="query" value="unit={north.pk}"' in body
    subscribe = reverse("backoffice:report-subscribe", kwargs={"slug": "sales"})
    response = client.post(
        subscribe,
        {"query": f"unit={north.pk}", "format": "xlsx", "frequency": "weekly", "weekday": "0"},
    )
    assert response.status_code == 302
    sub = ReportSubscription.objects.get(user=user)
    assert (sub.query, sub.format, sub.frequency, sub.weekday) == (
        f"unit={north.pk}",
        "xlsx",
        "weekly",
        0,
    )
    listing = client.get(reverse("backoffice:report-subscriptions")).content.decode()
    assert "Sales" in listing and "XLSX" in listing and "Monday" in listing
    action = reverse("backoffice:report-subscription-action", kwargs={"pk": sub.pk})
    assert client.post(action, {"action": "pause"}).status_code == 302
    sub.refresh_from_db()
    assert not sub.active
    assert "Paused" in client.get(reverse("backoffice:report-subscriptions")).content.decode()
    client.post(action, {"action": "resume"})
    sub.refresh_from_db()
    assert sub.active
    # Another person's subscription is not found.
    other = factories.user(north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    assert signed_in(other).post(action, {"action": "delete"}).status_code == 404
    client.post(action, {"action": "delete"})
    assert not ReportSubscription.objects.exists()
    kinds = list(
        AuditEvent.objects.filter(event_type__startswith="report.")
        .order_by("pk")
        .values_list("event_type", flat=True)
    )
    assert kinds == [
        "report.subscription_created",
        "report.subscription_paused",
        "report.subscription_resumed",
        "report.subscription_deleted",
    ]


def test_another_units_filters_are_404_and_a_cashier_is_refused() -> None:
    s = scene()
    user = _manager(s)
    subscribe = reverse("backoffice:report-subscribe", kwargs={"slug": "sales"})
    data = {"query": f"unit={s.world.tree.south.pk}", "format": "csv", "frequency": "daily"}
    assert signed_in(user).post(subscribe, data).status_code == 404
    data["query"] = ""
    assert signed_in(s.world.cashier).post(subscribe, data).status_code == 403
    assert not ReportSubscription.objects.exists()


def test_no_hostile_form_value_answers_a_server_error() -> None:
    s = scene()
    user = _manager(s)
    client = signed_in(user)
    subscribe = reverse("backoffice:report-subscribe", kwargs={"slug": "sales"})
    for value in HOSTILE_QUERY:
        for name in ("query", "format", "frequency", "weekday"):
            data = {"query": "", "format": "csv", "frequency": "weekly", "weekday": "1"}
            data[name] = value
            assert client.post(subscribe, data).status_code < 500, (name, value)
        ReportSubscription.objects.all().delete()
        action = reverse("backoffice:report-subscription-action", kwargs={"pk": 1})
        assert client.post(action, {"action": value}).status_code < 500


def test_subscribing_without_an_email_address_says_so_and_keeps_nothing() -> None:
    s = scene()
    user = _manager(s, email="")
    response = signed_in(user).post(
        reverse("backoffice:report-subscribe", kwargs={"slug": "sales"}),
        {"query": "", "format": "csv", "frequency": "daily"},
        follow=True,
    )
    assert response.status_code == 200
    assert "has no e-mail address" in response.content.decode()
    assert not ReportSubscription.objects.exists()
