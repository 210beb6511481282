"""Scoped reads of dunning rules, tasks, voice reminders and field orders: rules by their unit,
everything else by the customer's unit; out of scope answers NotFound."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet

from gridvend.dunning.models import DunningRule, DunningTask, FieldOrder, VoiceReminder
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.org.models import OrgUnit

_CUSTOMER_PATH = "customer__org_unit__path"


def list_rules(actor: User, *, unit: OrgUnit | None = None) -> QuerySet[DunningRule]:
    rules = scoped(DunningRule.objects.all(), actor).select_related("org_unit", "tariff", "owner")
    if unit is not None:
        rules = rules.filter(org_unit__path__startswith=unit.path)
    return rules.order_by("org_unit__path", "stage", "days_overdue", "id")


def get_rule(actor: User, pk: int) -> DunningRule:
    return get_scoped(DunningRule.objects.select_related("org_unit", "tariff"), actor, pk=pk)


def list_tasks(
    actor: User,
    *,
    status: str = "",
    stage: str = "",
    book: int | None = None,
    unit: OrgUnit | None = None,
    account: str | None = "",
) -> QuerySet[DunningTask]:
    """Tasks in the actor's subtree, newest first (the list's keyset order)."""
    tasks = scoped(DunningTask.objects.all(), actor, path=_CUSTOMER_PATH).select_related(
        "customer", "book", "rule"
    )
    if status:
        tasks = tasks.filter(status=status)
    if stage:
        tasks = tasks.filter(stage=stage)
    if book is not None:
        tasks = tasks.filter(book_id=book)
    if unit is not None:
        tasks = tasks.filter(customer__org_unit__path__startswith=unit.path)
    if account and account.strip():
        tasks = tasks.filter(customer__account_number=account.strip())
    return tasks.order_by("-created_at", "-id")


def get_task(actor: User, pk: int) -> DunningTask:
    return get_scoped(
        DunningTask.objects.select_related("customer", "customer__org_unit", "book", "rule"),
        actor,
        path=_CUSTOMER_PATH,
        pk=pk,
    )


def route_tasks(actor: User, book_id: int, *, status: str = "open") -> QuerySet[DunningTask]:
    """A book's tasks in route (reading) order, for the field agent's batch of notices."""
    return (
        scoped(DunningTask.objects.filter(book_id=book_id), actor, path=_CUSTOMER_PATH)
        .filter(status=status)
        .select_related("customer", "book")
        .order_by("position", "id")
    )


def call_list(actor: User, day: datetime.date) -> QuerySet[VoiceReminder]:
    return (
        scoped(
            VoiceReminder.objects.filter(business_date=day),
            actor,
            path=f"task__{_CUSTOMER_PATH}",
        )
        .select_related("task", "task__customer")
        .order_by("id")
    )


def get_voice(actor: User, pk: int) -> VoiceReminder:
    return get_scoped(
        VoiceReminder.objects.select_related("task", "task__customer"),
        actor,
        path=f"task__{_CUSTOMER_PATH}",
        pk=pk,
    )


def list_orders(
    actor: User, *, kind: str = "", status: str = "", unit: OrgUnit | None = None
) -> QuerySet[FieldOrder]:
    orders = scoped(FieldOrder.objects.all(), actor, path=_CUSTOMER_PATH).select_related(
        "customer", "task", "task__book", "issued_by", "executed_by"
    )
    if kind:
        orders = orders.filter(kind=kind)
    if status:
        orders = orders.filter(status=status)
    if unit is not None:
        orders = orders.filter(customer__org_unit__path__startswith=unit.path)
    return orders.order_by("-created_at", "-id")


def get_order(actor: User, pk: int) -> FieldOrder:
    return get_scoped(
        FieldOrder.objects.select_related("customer", "customer__org_unit", "task"),
        actor,
        path=_CUSTOMER_PATH,
        pk=pk,
    )


def agent_tasks(
    actor: User, *, unit: OrgUnit | None = None, status: str = ""
) -> QuerySet[DunningTask]:
    """The tasks on the routes ``actor`` reads (books whose reader they are), in route order:
    a field agent's dunning visits."""
    tasks = scoped(
        DunningTask.objects.filter(book__reader=actor), actor, path=_CUSTOMER_PATH
    ).select_related("customer", "book")
    if unit is not None:
        tasks = tasks.filter(book__org_unit__path__startswith=unit.path)
    if status:
        tasks = tasks.filter(status=status)
    return tasks.order_by("book__code", "position", "id")


def live_disconnection(task: DunningTask) -> FieldOrder | None:
    """The task's disconnection order issued or executed, if any (at most one)."""
    return live_disconnections([task]).get(task.pk)


def live_disconnections(tasks: list[DunningTask]) -> dict[int, FieldOrder]:
    """Each task's disconnection order issued or executed, by task id, in one query."""
    orders = FieldOrder.objects.filter(
        task__in=tasks, kind="disconnection", status__in=["issued", "executed"]
    ).order_by("id")
    return {order.task_id: order for order in orders if order.task_id is not None}
