"""The scheduled dunning jobs: declared with the job scheduler, run with each rule owner's scope,
and reconnection looked for every quarter of an hour."""

from __future__ import annotations

import pytest

from gridvend.dunning import services, tasks
from gridvend.dunning.models import DunningTask, FieldOrder, OrderKind
from gridvend.identity.models import User
from gridvend.jobs import queue
from tests.dunning.conftest import Dunning

pytestmark = pytest.mark.django_db


def test_both_jobs_are_scheduled() -> None:
    declared = queue.declared_schedules()
    assert declared[tasks.RUN_SCHEDULE] == (tasks.RUN_JOB, "30 5 * * *")
    assert declared[tasks.RECONNECT_SCHEDULE] == (tasks.RECONNECT_JOB, "*/15 * * * *")


def test_the_reconnection_job_orders_reconnection_once_the_arrears_are_paid(
    dunning: Dunning,
) -> None:
    d = dunning
    d.rule("disconnection", days=30)
    services.run_dunning(actor=d.s.finance, today=d.day(31))
    task = DunningTask.objects.get(customer=d.customer(d.s.a))
    order = services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(31))
    services.execute_order(actor=d.field, order=order, today=d.day(31))
    d.pay(d.s.a, d.owed(d.s.a), "BANK-JOB")
    assert tasks.reconnect_due() == 1
    assert tasks.reconnect_due() == 0
    assert FieldOrder.objects.get(kind=OrderKind.RECONNECTION).disconnection_id == order.pk


def test_a_rule_whose_owner_left_is_skipped_not_run_with_more_scope(dunning: Dunning) -> None:
    d = dunning
    d.rule("reminder", days=0, minimum=1)
    User.objects.filter(pk=d.s.finance.pk).update(is_active=False)
    assert tasks.run_daily() == {"skipped_rules": 1}
    assert not DunningTask.objects.exists()
