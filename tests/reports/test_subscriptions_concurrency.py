"""Two senders at once (two workers, or a retry beside the schedule) send each period once: the
second waits on the delivery's unique key and then sends nothing (PostgreSQL: row locks)."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.identity.roles import Capability, Role
from gridvend.jobs.models import OutboxMessage
from gridvend.reports import subscriptions
from gridvend.reports.models import ReportDelivery
from tests import factories
from tests.reports.support import ZONE, at, scene
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_runs_send_each_period_once(settings: Any) -> None:
    settings.TIME_ZONE = ZONE
    settings.EMAIL_ENABLED = True
    s = scene()
    user = factories.user(s.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    user.email = "north@example.com"
    user.save(update_fields=["email"])
    for fmt in ("csv", "xlsx"):
        subscriptions.subscribe(
            actor=user,
            slug="sales",
            query="",
            format=fmt,
            frequency="daily",
            now=at("2026-04-02 04:00"),
        )
    results, errors = run_threads(4, lambda i: subscriptions.send_due(now=at("2026-04-02 05:00")))
    assert not errors, errors
    assert sum(len(r) for r in results) == 2
    assert ReportDelivery.objects.count() == 2
    assert OutboxMessage.objects.filter(kind="email").count() == 2
