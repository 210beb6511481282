"""Dunning against real bills: rules open one task per customer and stage on the route, SMS in
the customer's language, the pre-disconnection check refusing a customer who has just paid
(through billing's take_payment), reconnection after payment, scoping, nothing half-written."""

from __future__ import annotations

import shutil
import wave

import pytest
from django.conf import settings
from django.test import override_settings

from gridvend.audit.models import AuditEvent
from gridvend.dunning import selectors, services
from gridvend.dunning.errors import DunningRuleInvalid, NotInArrears, OrderNotIssued
from gridvend.dunning.models import (
    DunningRule,
    DunningTask,
    FieldOrder,
    OrderKind,
    OrderStatus,
    TaskStatus,
    VoiceReminder,
)
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.jobs.models import OutboxMessage
from tests.dunning.conftest import Dunning

pytestmark = pytest.mark.django_db


def _open(d: Dunning) -> list[tuple[str, str]]:
    return sorted(
        (t.customer.account_number, t.stage)
        for t in DunningTask.objects.filter(status=TaskStatus.OPEN).select_related("customer")
    )


def test_a_rule_opens_one_task_per_account_on_its_route_and_a_second_run_opens_none(
    dunning: Dunning,
) -> None:
    d = dunning
    d.rule("reminder", days=5)
    first = services.run_dunning(actor=d.s.finance, today=d.day(6))
    a, b = d.customer(d.s.a), d.customer(d.s.b)
    assert _open(d) == sorted([(a.account_number, "reminder"), (b.account_number, "reminder")])
    task = DunningTask.objects.get(customer=a)
    assert task.book == d.s.book and task.position == 1
    assert task.arrears_minor == d.owed(d.s.a) and task.oldest_due_date == d.due_date
    assert (first.opened, first.closed) == (2, 0)
    again = services.run_dunning(actor=d.s.finance, today=d.day(6))
    assert (again.opened, again.closed) == (0, 0)
    assert DunningTask.objects.count() == 2
    assert AuditEvent.objects.filter(event_type="dunning_task.opened").count() == 2


def test_before_the_days_or_below_the_minimum_no_task_is_opened(dunning: Dunning) -> None:
    d = dunning
    d.rule("reminder", days=10, minimum=100000)  # B owes 591.60, A 4,408.00
    assert services.run_dunning(actor=d.s.finance, today=d.day(9)).opened == 0
    services.run_dunning(actor=d.s.finance, today=d.day(10))
    assert _open(d) == [(d.customer(d.s.a).account_number, "reminder")]


def test_a_later_stage_closes_the_earlier_task(dunning: Dunning) -> None:
    d = dunning
    d.rule("reminder", days=5)
    d.rule("disconnection", days=30)
    services.run_dunning(actor=d.s.finance, today=d.day(6))
    services.run_dunning(actor=d.s.finance, today=d.day(31))
    a = d.customer(d.s.a)
    reminder = DunningTask.objects.get(customer=a, stage="reminder")
    assert reminder.status == TaskStatus.DONE
    assert DunningTask.objects.get(customer=a, stage="disconnection").status == TaskStatus.OPEN


def test_a_category_or_tariff_rule_passes_over_other_customers(dunning: Dunning) -> None:
    d = dunning
    d.rule("reminder", days=1, category="commercial")
    assert services.run_dunning(actor=d.s.finance, today=d.day(6)).opened == 0


@override_settings(SMS_BACKEND="console")
def test_the_sms_reminder_is_in_the_customers_language(dunning: Dunning) -> None:
    from gridvend.customers import services as customers

    d = dunning
    a, b = d.customer(d.s.a), d.customer(d.s.b)
    customers.update_customer(actor=d.s.world.admin, customer=a, phone="+254711000001",
                              language="ar")  # fmt: skip
    customers.update_customer(actor=d.s.world.admin, customer=b, phone="+254711000002",
                              language="zh-hans")  # fmt: skip
    d.rule("notice", days=5)
    assert services.run_dunning(actor=d.s.finance, today=d.day(6)).sms == 2
    arabic = OutboxMessage.objects.get(payload__to="+254711000001").payload
    chinese = OutboxMessage.objects.get(payload__to="+254711000002").payload
    assert arabic["language"] == "ar" and "إنذار" in arabic["text"]
    assert a.account_number in arabic["text"]
    assert chinese["language"] == "zh-hans" and "通知" in chinese["text"]
    assert DunningTask.objects.get(customer=a).sms_queued
    # A second run queues nothing more: one SMS per task.
    services.run_dunning(actor=d.s.finance, today=d.day(7))
    assert OutboxMessage.objects.filter(kind="sms").count() == 2


def _disconnection_task(d: Dunning) -> DunningTask:
    d.rule("disconnection", days=30)
    services.run_dunning(actor=d.s.finance, today=d.day(31))
    return DunningTask.objects.get(customer=d.customer(d.s.a), stage="disconnection")


def test_a_customer_who_has_just_paid_is_not_disconnected(dunning: Dunning) -> None:
    d = dunning
    task = _disconnection_task(d)
    d.pay(d.s.a, d.owed(d.s.a), "BANK-PAID-1")
    with pytest.raises(NotInArrears) as caught:
        services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(32))
    assert caught.value.code == "DISCONNECTION_NOT_IN_ARREARS"
    order = FieldOrder.objects.get(task=task)
    assert order.status == OrderStatus.REFUSED
    assert order.refusal_code == "DISCONNECTION_NOT_IN_ARREARS"
    assert [(c["when"], c["result"], c["arrears_minor"]) for c in order.prechecks] == [
        ("issue", "paid", 0)
    ]
    task.refresh_from_db()
    assert task.status == TaskStatus.PAID
    assert AuditEvent.objects.filter(
        event_type="disconnection_order.refused", target_id=str(order.pk)
    ).exists()


def test_the_field_agent_is_refused_when_the_customer_paid_after_the_order(
    dunning: Dunning,
) -> None:
    d = dunning
    task = _disconnection_task(d)
    order = services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(32))
    assert order.status == OrderStatus.ISSUED
    assert order.prechecks[0]["result"] == "in_arrears"
    d.pay(d.s.a, d.owed(d.s.a), "BANK-PAID-2")
    with pytest.raises(NotInArrears):
        services.execute_order(actor=d.field, order=order, today=d.day(33))
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUSED and order.executed_at is None
    assert [c["when"] for c in order.prechecks] == ["issue", "execute"]
    with pytest.raises(OrderNotIssued):
        services.execute_order(actor=d.field, order=order, today=d.day(33))


def test_a_partial_payment_leaves_the_customer_to_be_disconnected(dunning: Dunning) -> None:
    d = dunning
    task = _disconnection_task(d)
    d.pay(d.s.a, 1000, "BANK-PART")
    order = services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(32))
    done = services.execute_order(actor=d.field, order=order, today=d.day(32))
    assert done.status == OrderStatus.EXECUTED and done.executed_by == d.field
    assert done.prechecks[-1]["arrears_minor"] == d.owed(d.s.a)


def test_issuing_twice_returns_the_first_order(dunning: Dunning) -> None:
    d = dunning
    task = _disconnection_task(d)
    first = services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(32))
    second = services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(32))
    assert first.pk == second.pk and FieldOrder.objects.count() == 1


def test_paying_the_arrears_orders_reconnection_once(dunning: Dunning) -> None:
    d = dunning
    task = _disconnection_task(d)
    order = services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(32))
    services.execute_order(actor=d.field, order=order, today=d.day(32))
    assert services.reconnect_paid(actor=d.s.finance, today=d.day(33)) == 0
    d.pay(d.s.a, d.owed(d.s.a), "BANK-PAID-3")
    assert services.reconnect_paid(actor=d.s.finance, today=d.day(34)) == 1
    assert services.run_dunning(actor=d.s.finance, today=d.day(34)).reconnections == 0
    reconnection = FieldOrder.objects.get(kind=OrderKind.RECONNECTION)
    assert reconnection.disconnection_id == order.pk
    assert reconnection.status == OrderStatus.ISSUED
    task.refresh_from_db()
    assert task.status == TaskStatus.PAID
    done = services.execute_order(actor=d.field, order=reconnection)
    assert done.status == OrderStatus.EXECUTED


def test_a_paid_account_has_its_open_tasks_closed_by_the_next_run(dunning: Dunning) -> None:
    d = dunning
    d.rule("reminder", days=5)
    services.run_dunning(actor=d.s.finance, today=d.day(6))
    d.pay(d.s.b, d.owed(d.s.b), "BANK-B")
    services.run_dunning(actor=d.s.finance, today=d.day(7))
    task = DunningTask.objects.get(customer=d.customer(d.s.b))
    assert task.status == TaskStatus.PAID and task.closed_at is not None


def test_another_region_neither_sees_nor_runs_the_norths_tasks(dunning: Dunning) -> None:
    d = dunning
    d.rule("reminder", days=5)
    services.run_dunning(actor=d.s.finance, today=d.day(6))
    task = DunningTask.objects.first()
    assert task is not None
    with pytest.raises(NotFound):
        selectors.get_task(d.south_finance, task.pk)
    assert not selectors.list_tasks(d.south_finance).exists()
    south = services.run_dunning(actor=d.south_finance, today=d.day(6))
    # The south's own rule-less run touches nothing; the north's rule is not the south's.
    assert (south.checked, south.opened) == (0, 0)
    with pytest.raises(NotFound):
        services.create_rule(
            actor=d.south_finance, org_unit=d.s.world.tree.north, name="x", stage="reminder",
            days_overdue=1, minimum_arrears_minor=1, currency="KES",
        )  # fmt: skip


def test_only_finance_keeps_rules_and_only_field_agents_execute(dunning: Dunning) -> None:
    d = dunning
    with pytest.raises(AccessDenied):
        services.create_rule(
            actor=d.field, org_unit=d.s.world.tree.north_sc, name="x", stage="reminder",
            days_overdue=1, minimum_arrears_minor=1, currency="KES",
        )  # fmt: skip
    task = _disconnection_task(d)
    order = services.issue_disconnection_order(actor=d.s.finance, task=task, today=d.day(32))
    with pytest.raises(AccessDenied):
        services.execute_order(actor=d.s.finance, order=order, today=d.day(32))
    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("days_overdue", -1),
        ("days_overdue", 10**6),
        ("minimum_arrears_minor", 10**15),
        ("stage", "eviction"),
        ("currency", "XXX1"),
        ("name", "\u202ename"),
    ],
)
def test_a_rule_out_of_bounds_is_refused_and_nothing_written(
    dunning: Dunning, field: str, value: object
) -> None:
    d = dunning
    values: dict[str, object] = {
        "name": "bounded", "stage": "reminder", "days_overdue": 5,
        "minimum_arrears_minor": 100, "currency": "KES",
    }  # fmt: skip
    values[field] = value
    before = (DunningRule.objects.count(), AuditEvent.objects.count())
    with pytest.raises((DunningRuleInvalid, Exception)) as caught:
        services.create_rule(actor=d.s.finance, org_unit=d.s.world.tree.north, **values)  # type: ignore[arg-type]
    assert getattr(caught.value, "code", None) in ("DUNNING_RULE_INVALID", "INVALID_INPUT")
    assert (DunningRule.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_a_voice_rule_puts_a_spoken_reminder_on_the_days_call_list(dunning: Dunning) -> None:
    from gridvend.customers import services as customers

    d = dunning
    a = d.customer(d.s.a)
    customers.update_customer(actor=d.s.world.admin, customer=a, phone="+254711000003",
                              language="ar")  # fmt: skip
    d.rule("reminder", days=5, send_sms=False, send_voice=True)
    result = services.run_dunning(actor=d.s.finance, today=d.day(6))
    assert result.voice == 1 and result.problems == {}
    reminder = VoiceReminder.objects.get()
    assert reminder.language == "ar" and reminder.phone == "+254711000003"
    assert list(selectors.call_list(d.s.finance, d.day(6))) == [reminder]
    with wave.open(str(settings.VOICE_DIR / reminder.file_name), "rb") as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert 3 <= seconds <= 60 and reminder.duration_ms == int(seconds * 1000)


@override_settings(VOICE_ENGINE="no-such-espeak")
def test_without_the_speech_engine_the_run_reports_the_code_and_keeps_the_tasks(
    dunning: Dunning,
) -> None:
    from gridvend.customers import services as customers

    d = dunning
    customers.update_customer(actor=d.s.world.admin, customer=d.customer(d.s.a),
                              phone="+254711000004")  # fmt: skip
    d.rule("reminder", days=5, send_sms=False, send_voice=True)
    result = services.run_dunning(actor=d.s.finance, today=d.day(6))
    assert result.problems == {"VOICE_ENGINE_MISSING": 1}
    assert result.opened == 2 and not VoiceReminder.objects.exists()
