"""Every write of the dunning app: rules, runs that open and close tasks, voice reminders, and
disconnection and reconnection orders. Each is permission-checked, scoped, one transaction,
audited inside it.

A run reads each candidate account's figures live from billing and opens, per customer, a task
at the highest stage whose rule the account meets (one open task per customer and stage, backed
by a unique index, so a second run opens nothing); lower stages still open are closed as
escalated, and open tasks of an account no longer in arrears are closed as paid. A disconnection
order is issued only after a live pre-check, and checked again when it is executed; a refusal is
written (status refused, its code and the figures read), then raised. Voice files are spoken
after the run's transactions, so a slow or missing speech engine never holds a lock.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.changes import audited_change, record_created
from gridvend.audit.services import record
from gridvend.customers.locks import lock_customer
from gridvend.customers.models import AccountKind, Customer, CustomerCategory, CustomerStatus
from gridvend.dunning import permissions, voice
from gridvend.dunning.due import Due, read_due, read_dues
from gridvend.dunning.errors import (
    DunningRuleInvalid,
    NotInArrears,
    OrderNotIssued,
    TaskClosed,
    TaskNotDisconnection,
)
from gridvend.dunning.events import DunningEvent
from gridvend.dunning.models import (
    MAX_DAYS_OVERDUE,
    DunningRule,
    DunningTask,
    FieldOrder,
    OrderKind,
    OrderStatus,
    Stage,
    TaskStatus,
    VoiceReminder,
)
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope, scoped
from gridvend.kernel import inputs
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import CURRENCY_EXPONENTS
from gridvend.notifications.services import queue_sms
from gridvend.org.models import OrgUnit
from gridvend.readings.models import BookMeter
from gridvend.tariffs.models import Tariff
from gridvend.transactions import use_case

logger = logging.getLogger("gridvend.dunning")

STAGE_ORDER = [Stage.REMINDER, Stage.NOTICE, Stage.DISCONNECTION]
# A threshold up to a thousand million in major units: far above any household's arrears.
MAX_MINIMUM_ARREARS_MINOR = 10**14
POSTPAID_KINDS = (AccountKind.POSTPAID, AccountKind.BOTH)
# Accounts whose figures a run reads at once (a handful of queries per batch, not per account).
READ_BATCH = 500


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def _rank(stage: str) -> int:
    return STAGE_ORDER.index(Stage(stage))


# Rules ------------------------------------------------------------------------------------------


def _clean_rule_fields(
    *,
    name: str,
    stage: str,
    days_overdue: int,
    minimum_arrears_minor: int,
    currency: str,
    category: str,
) -> dict[str, object]:
    cleaned_name = inputs.clean_text(name, max_length=120, field="name")
    if not cleaned_name:
        raise DunningRuleInvalid(field="name")
    if stage not in Stage.values:
        raise DunningRuleInvalid(field="stage")
    for value, name_of, top in (
        (days_overdue, "days_overdue", MAX_DAYS_OVERDUE),
        (minimum_arrears_minor, "minimum_arrears_minor", MAX_MINIMUM_ARREARS_MINOR),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise DunningRuleInvalid(field=name_of)
    if currency not in CURRENCY_EXPONENTS:
        raise DunningRuleInvalid(field="currency")
    if category and category not in CustomerCategory.values:
        raise DunningRuleInvalid(field="category")
    return {
        "name": cleaned_name,
        "stage": stage,
        "days_overdue": days_overdue,
        "minimum_arrears_minor": minimum_arrears_minor,
        "currency": currency,
        "category": category,
    }


def _check_tariff(actor: User, tariff: Tariff | None) -> None:
    if tariff is not None and not scoped(Tariff.objects.filter(pk=tariff.pk), actor).exists():
        raise DunningRuleInvalid(field="tariff")


@use_case
def create_rule(
    *,
    actor: User,
    org_unit: OrgUnit,
    name: str,
    stage: str,
    days_overdue: int,
    minimum_arrears_minor: int,
    currency: str,
    category: str = "",
    tariff: Tariff | None = None,
    send_sms: bool = True,
    send_voice: bool = False,
) -> DunningRule:
    _require(permissions.can_manage_dunning(actor))
    require_unit_in_scope(actor, org_unit)
    _check_tariff(actor, tariff)
    fields = _clean_rule_fields(
        name=name,
        stage=stage,
        days_overdue=days_overdue,
        minimum_arrears_minor=minimum_arrears_minor,
        currency=currency,
        category=category,
    )
    rule = DunningRule.objects.create(
        org_unit=org_unit,
        tariff=tariff,
        send_sms=bool(send_sms),
        send_voice=bool(send_voice),
        owner=actor,
        **fields,
    )
    record_created(actor=actor, instance=rule, event=DunningEvent.RULE_CREATED)
    return rule


@use_case
def update_rule(
    *,
    actor: User,
    rule: DunningRule,
    name: str,
    stage: str,
    days_overdue: int,
    minimum_arrears_minor: int,
    currency: str,
    category: str = "",
    tariff: Tariff | None = None,
    send_sms: bool = True,
    send_voice: bool = False,
    is_active: bool = True,
) -> DunningRule:
    """Change a rule; whoever changes it becomes its owner, whose scope the daily run uses."""
    _require(permissions.can_manage_dunning(actor))
    locked = DunningRule.objects.select_for_update().select_related("org_unit").get(pk=rule.pk)
    require_unit_in_scope(actor, locked.org_unit)
    _check_tariff(actor, tariff)
    fields = _clean_rule_fields(
        name=name,
        stage=stage,
        days_overdue=days_overdue,
        minimum_arrears_minor=minimum_arrears_minor,
        currency=currency,
        category=category,
    )
    with audited_change(
        actor=actor, instance=locked, event=DunningEvent.RULE_UPDATED, skip_unchanged=True
    ):
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.tariff = tariff
        locked.send_sms = bool(send_sms)
        locked.send_voice = bool(send_voice)
        locked.is_active = bool(is_active)
        locked.owner = actor
    return locked


# Runs -------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What one run did, for the back office's message and the job's log."""

    checked: int = 0
    opened: int = 0
    closed: int = 0
    sms: int = 0
    voice: int = 0
    reconnections: int = 0
    # Stable codes of what went wrong per account (a voice engine missing, an SMS refused).
    problems: dict[str, int] = field(default_factory=dict)

    def problem(self, code: str) -> None:
        self.problems[code] = self.problems.get(code, 0) + 1


def _matches(rule: DunningRule, customer: Customer) -> bool:
    return (
        customer.org_unit.path.startswith(rule.org_unit.path)
        and (not rule.category or rule.category == customer.category)
        and (rule.tariff_id is None or rule.tariff_id == customer.tariff_id)
    )


def _meets(rule: DunningRule, due: Due, today: datetime.date) -> bool:
    return (
        due.in_arrears
        and due.currency == rule.currency
        and due.arrears_minor >= rule.minimum_arrears_minor
        and due.days_overdue(today) >= rule.days_overdue
    )


def _route_place(customer: Customer) -> tuple[int | None, int | None]:
    """The book and position of the customer's first meter on a route, if any."""
    entry = (
        BookMeter.objects.filter(meter__customer=customer)
        .order_by("book_id", "position", "id")
        .values_list("book_id", "position")
        .first()
    )
    return entry if entry is not None else (None, None)


def _close(actor: User, task: DunningTask, status: str, why: str) -> None:
    task.status = status
    task.closed_at = timezone.now()
    task.save(update_fields=["status", "closed_at"])
    record(
        actor=actor,
        event_type=DunningEvent.TASK_CLOSED,
        target=task,
        after={"status": status, "why": why, "stage": task.stage},
    )


def _sms_context(customer: Customer, due: Due, today: datetime.date) -> dict[str, object]:
    from gridvend.kernel.money import Money

    return {
        "utility": settings.UTILITY_NAME,
        "account": customer.account_number,
        "arrears": Money(due.arrears_minor, due.currency).format(),
        "currency": due.currency,
        "days": due.days_overdue(today),
    }


@use_case
def _dun_customer(
    *,
    actor: User,
    customer: Customer,
    rules: list[DunningRule],
    due: Due,
    today: datetime.date,
    result: RunResult,
) -> DunningTask | None:
    """One customer's step of a run: open the task its arrears call for, close what is done."""
    open_tasks = list(
        DunningTask.objects.select_for_update().filter(customer=customer, status=TaskStatus.OPEN)
    )
    if not due.in_arrears:
        for task in open_tasks:
            _close(actor, task, TaskStatus.PAID, "no_arrears")
            result.closed += 1
        return None
    met = [rule for rule in rules if _meets(rule, due, today)]
    if not met:
        return None
    rule = max(met, key=lambda r: (_rank(r.stage), r.days_overdue, r.minimum_arrears_minor))
    for task in open_tasks:
        if _rank(task.stage) < _rank(rule.stage):
            _close(actor, task, TaskStatus.DONE, "escalated")
            result.closed += 1
    if any(task.stage == rule.stage for task in open_tasks):
        return None
    book_id, position = _route_place(customer)
    try:
        with transaction.atomic():
            task = DunningTask.objects.create(
                rule=rule,
                customer=customer,
                stage=rule.stage,
                book_id=book_id,
                position=position,
                arrears_minor=due.arrears_minor,
                total_due_minor=due.total_due_minor,
                currency=due.currency,
                oldest_due_date=due.oldest_overdue or today,
                business_date=today,
            )
    except IntegrityError:
        # Another run opened it meanwhile: one open task per customer and stage.
        return None
    record(
        actor=actor,
        event_type=DunningEvent.TASK_OPENED,
        target=task,
        after={
            "rule": rule.pk,
            "stage": task.stage,
            "arrears_minor": task.arrears_minor,
            "currency": task.currency,
            "book": book_id,
        },
    )
    result.opened += 1
    if rule.send_sms and customer.phone:
        try:
            # A savepoint: a refused SMS (a number the parser rejects) leaves the task open.
            with transaction.atomic():
                queued = queue_sms(
                    to=customer.phone,
                    template=f"dunning_{rule.stage}",
                    context=_sms_context(customer, due, today),
                    key=f"dunning-task:{task.pk}",
                    language=customer.language or None,
                )
        except DomainError as error:
            result.problem(error.code)
        else:
            if queued is not None:
                task.sms_queued = True
                task.save(update_fields=["sms_queued"])
                result.sms += 1
    return task


def candidates(actor: User, rules: Iterable[DunningRule]) -> list[Customer]:
    """Active postpaid customers of the actor's subtree whom at least one rule covers."""
    rules = list(rules)
    if not rules:
        return []
    found = scoped(
        Customer.objects.filter(
            account_kind__in=POSTPAID_KINDS, status=CustomerStatus.ACTIVE
        ).select_related("org_unit", "tariff"),
        actor,
    ).order_by("id")
    return [customer for customer in found if any(_matches(r, customer) for r in rules)]


def run_dunning(
    *, actor: User, today: datetime.date, rules: Iterable[DunningRule] | None = None
) -> RunResult:
    """Run the active rules in the actor's subtree (or ``rules``) over every account they
    cover; each customer is its own transaction, so a run stopped half-way leaves each account
    either done or untouched, and a second run does only what the first did not."""
    _require(permissions.can_manage_dunning(actor))
    chosen = list(
        rules
        if rules is not None
        else scoped(DunningRule.objects.filter(is_active=True), actor).select_related(
            "org_unit", "tariff"
        )
    )
    chosen = [rule for rule in chosen if rule.org_unit.path.startswith(actor.org_unit.path)]
    result = RunResult()
    voice_tasks: list[tuple[DunningTask, Due]] = []
    found = candidates(actor, chosen)
    for start in range(0, len(found), READ_BATCH):
        batch = found[start : start + READ_BATCH]
        # Each batch's figures in a fixed number of queries, however many accounts it holds.
        dues = read_dues(actor, batch, today=today)
        for customer in batch:
            result.checked += 1
            due = dues.get(customer.pk)
            if due is None:
                continue
            covering = [rule for rule in chosen if _matches(rule, customer)]
            task = _dun_customer(
                actor=actor, customer=customer, rules=covering, due=due, today=today, result=result
            )
            if task is not None and task.rule.send_voice and customer.phone:
                voice_tasks.append((task, due))
    for task, due in voice_tasks:
        try:
            make_voice_reminder(actor=actor, task=task, due=due, today=today)
            result.voice += 1
        except DomainError as error:
            result.problem(error.code)
    _reconnect_paid(actor=actor, today=today, result=result)
    with transaction.atomic(durable=True):
        record(
            actor=actor,
            event_type=DunningEvent.RUN_COMPLETED,
            target_type="dunning.run",
            target_id=today.isoformat(),
            org_path=actor.org_unit.path,
            after={
                "checked": result.checked,
                "opened": result.opened,
                "closed": result.closed,
                "sms": result.sms,
                "voice": result.voice,
                "reconnections": result.reconnections,
                "problems": result.problems,
            },
        )
    return result


# Voice reminders --------------------------------------------------------------------------------


def _voice_language(customer: Customer) -> str:
    language = customer.language or settings.LANGUAGE_CODE
    return language if language in voice.VOICES else "en"


def make_voice_reminder(
    *, actor: User, task: DunningTask, due: Due, today: datetime.date
) -> VoiceReminder:
    """Speak the task's reminder to a WAV file and put it on the day's call list (once: a task
    that has one keeps it). Raises the voice errors (engine missing, failed, no voice)."""
    _require(permissions.can_manage_dunning(actor))
    existing = VoiceReminder.objects.filter(task=task).first()
    if existing is not None:
        return existing
    customer = task.customer
    language = _voice_language(customer)
    text = voice.reminder_text(
        language=language,
        account_number=customer.account_number,
        arrears_minor=due.arrears_minor,
        currency=due.currency,
        days=due.days_overdue(today),
    )
    name = f"{today:%Y-%m-%d}/reminder-{task.pk}-{language}.wav"
    speech = voice.speak(text, language=language, path=settings.VOICE_DIR / name)
    with transaction.atomic(durable=True):
        reminder, created = VoiceReminder.objects.get_or_create(
            task=task,
            defaults={
                "phone": customer.phone,
                "language": language,
                "file_name": name,
                "duration_ms": speech.duration_ms,
                "business_date": today,
            },
        )
        if created:
            record_created(
                actor=actor,
                instance=reminder,
                event=DunningEvent.VOICE_GENERATED,
                fields=("file_name", "language", "duration_ms", "business_date"),
            )
    return reminder


# Field orders -----------------------------------------------------------------------------------


def _precheck(when: str, due: Due | None, today: datetime.date) -> dict[str, object]:
    return {
        "at": timezone.now().isoformat(),
        "when": when,
        "arrears_minor": due.arrears_minor if due else 0,
        "total_due_minor": due.total_due_minor if due else 0,
        "currency": due.currency if due else "",
        "days_overdue": due.days_overdue(today) if due else 0,
        "result": "in_arrears" if due is not None and due.in_arrears else "paid",
    }


@use_case
def _issue(*, actor: User, task: DunningTask, today: datetime.date) -> FieldOrder:
    # The customer is locked first (the order a payment locks it in) and held to the end: a
    # payment committing between the pre-check and the order waits, then the order stands on
    # figures no payment has changed.
    lock_customer(
        Customer(pk=DunningTask.objects.values_list("customer_id", flat=True).get(pk=task.pk))
    )
    locked = (
        DunningTask.objects.select_for_update(of=("self",))
        .select_related("customer", "customer__org_unit")
        .get(pk=task.pk)
    )
    require_unit_in_scope(actor, locked.customer.org_unit)
    if locked.stage != Stage.DISCONNECTION:
        raise TaskNotDisconnection()
    live = FieldOrder.objects.filter(
        task=locked,
        kind=OrderKind.DISCONNECTION,
        status__in=[OrderStatus.ISSUED, OrderStatus.EXECUTED],
    ).first()
    if live is not None:
        return live
    if locked.status != TaskStatus.OPEN:
        raise TaskClosed()
    due = read_due(actor, locked.customer.account_number, today=today)
    check = _precheck("issue", due, today)
    paid = check["result"] == "paid"
    order = FieldOrder.objects.create(
        kind=OrderKind.DISCONNECTION,
        status=OrderStatus.REFUSED if paid else OrderStatus.ISSUED,
        customer=locked.customer,
        task=locked,
        prechecks=[check],
        refusal_code=NotInArrears.code if paid else "",
        issued_by=actor,
    )
    record_created(
        actor=actor,
        instance=order,
        event=DunningEvent.DISCONNECTION_REFUSED if paid else DunningEvent.DISCONNECTION_ISSUED,
    )
    if paid:
        _close(actor, locked, TaskStatus.PAID, "precheck_paid")
    return order


def issue_disconnection_order(
    *, actor: User, task: DunningTask, today: datetime.date | None = None
) -> FieldOrder:
    """A disconnection order for a disconnection-stage task, after the live pre-check. A
    customer no longer in arrears gets a refused order on record and NotInArrears is raised;
    asking again for a task that has a live order returns that order."""
    _require(permissions.can_manage_dunning(actor))
    order = _issue(actor=actor, task=task, today=today or business_day())
    if order.status == OrderStatus.REFUSED:
        raise NotInArrears(account_number=order.customer.account_number, order_id=order.pk)
    return order


@use_case
def _execute(*, actor: User, order: FieldOrder, today: datetime.date) -> FieldOrder:
    # As for issuing: the customer locked before the pre-check, so no payment slips between.
    lock_customer(
        Customer(pk=FieldOrder.objects.values_list("customer_id", flat=True).get(pk=order.pk))
    )
    locked = (
        FieldOrder.objects.select_for_update(of=("self",))
        .select_related("customer", "customer__org_unit", "task")
        .get(pk=order.pk)
    )
    require_unit_in_scope(actor, locked.customer.org_unit)
    if locked.status != OrderStatus.ISSUED:
        raise OrderNotIssued()
    if locked.kind == OrderKind.RECONNECTION:
        with audited_change(actor=actor, instance=locked, event=DunningEvent.RECONNECTION_EXECUTED):
            locked.status = OrderStatus.EXECUTED
            locked.executed_by = actor
            locked.executed_at = timezone.now()
        return locked
    due = read_due(actor, locked.customer.account_number, today=today)
    check = _precheck("execute", due, today)
    paid = check["result"] == "paid"
    event = DunningEvent.DISCONNECTION_REFUSED if paid else DunningEvent.DISCONNECTION_EXECUTED
    with audited_change(actor=actor, instance=locked, event=event):
        locked.prechecks = [*locked.prechecks, check]
        if paid:
            locked.status = OrderStatus.REFUSED
            locked.refusal_code = NotInArrears.code
        else:
            locked.status = OrderStatus.EXECUTED
            locked.executed_by = actor
            locked.executed_at = timezone.now()
    if paid and locked.task is not None and locked.task.status == TaskStatus.OPEN:
        _close(actor, locked.task, TaskStatus.PAID, "precheck_paid")
    return locked


def execute_order(
    *, actor: User, order: FieldOrder, today: datetime.date | None = None
) -> FieldOrder:
    """The field agent reports an order done. A disconnection is checked against billing once
    more first: a customer who has paid meanwhile is not disconnected (the refusal is recorded,
    then NotInArrears raised)."""
    _require(permissions.can_execute_orders(actor))
    done = _execute(actor=actor, order=order, today=today or business_day())
    if done.kind == OrderKind.DISCONNECTION and done.status == OrderStatus.REFUSED:
        raise NotInArrears(account_number=done.customer.account_number, order_id=done.pk)
    return done


@use_case
def _reconnect(*, actor: User, disconnection: FieldOrder) -> FieldOrder | None:
    locked = FieldOrder.objects.select_for_update(of=("self",)).get(pk=disconnection.pk)
    if FieldOrder.objects.filter(disconnection=locked).exists():
        return None
    order = FieldOrder.objects.create(
        kind=OrderKind.RECONNECTION,
        status=OrderStatus.ISSUED,
        customer_id=locked.customer_id,
        task_id=locked.task_id,
        disconnection=locked,
        issued_by=actor,
    )
    record_created(actor=actor, instance=order, event=DunningEvent.RECONNECTION_ORDERED)
    if locked.task_id is not None:
        task = DunningTask.objects.select_for_update().get(pk=locked.task_id)
        if task.status == TaskStatus.OPEN:
            _close(actor, task, TaskStatus.PAID, "reconnection")
    return order


def _reconnect_paid(*, actor: User, today: datetime.date, result: RunResult) -> None:
    executed = scoped(
        FieldOrder.objects.filter(
            kind=OrderKind.DISCONNECTION, status=OrderStatus.EXECUTED, reconnection__isnull=True
        ),
        actor,
        path="customer__org_unit__path",
    ).select_related("customer__org_unit", "customer__tariff")
    orders = list(executed.order_by("pk"))
    for start in range(0, len(orders), READ_BATCH):
        batch = orders[start : start + READ_BATCH]
        dues = read_dues(actor, [order.customer for order in batch], today=today)
        for order in batch:
            due = dues.get(order.customer_id)
            paid = due is None or not due.in_arrears
            if paid and _reconnect(actor=actor, disconnection=order) is not None:
                result.reconnections += 1


def reconnect_paid(*, actor: User, today: datetime.date | None = None) -> int:
    """Reconnection orders for every executed disconnection whose arrears are now paid."""
    _require(permissions.can_manage_dunning(actor))
    result = RunResult()
    _reconnect_paid(actor=actor, today=today or business_day(), result=result)
    return result.reconnections


def business_day() -> datetime.date:
    """The utility's business day now."""
    from gridvend.kernel.clock import business_date

    return business_date(timezone.now(), str(settings.TIME_ZONE))
