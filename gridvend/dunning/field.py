"""The field agent's side of dunning: the pre-disconnection check read live before touching the
supply, and the visit's outcome reported from the handheld (a disconnection executes the task's
order through ``services.execute_order``'s own steps, in the visit's transaction)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.dunning import permissions, selectors
from gridvend.dunning.due import read_due
from gridvend.dunning.errors import (
    DisconnectionPaidToday,
    NotInArrears,
    OrderNotIssued,
    VisitReferenceReused,
)
from gridvend.dunning.events import DunningEvent
from gridvend.dunning.models import (
    DunningTask,
    DunningVisit,
    FieldOrder,
    OrderStatus,
    Stage,
    TaskStatus,
    VisitOutcome,
)
from gridvend.dunning.services import _execute, _precheck, business_day
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel import inputs
from gridvend.kernel.clock import business_date

MAX_VISIT_NOTE = 200


@dataclass(frozen=True)
class PreCheck:
    """The live figures and every reason that forbids disconnecting now (none: it may go on)."""

    task: DunningTask
    order: FieldOrder | None
    figures: dict[str, object]  # as ``services._precheck`` writes them on the order
    last_payment: tuple[datetime.datetime, int] | None
    reasons: list[str]

    @property
    def may_disconnect(self) -> bool:
        return not self.reasons


def pre_disconnection_check(
    *, actor: User, task: DunningTask, today: datetime.date | None = None
) -> PreCheck:
    """Read before disconnecting, writing nothing: the figures the order's own pre-check reads
    (billing, live), the order, and what forbids it: ``not_in_arrears``, ``task_closed``,
    ``not_disconnection_stage``, ``no_issued_order`` (the office has not issued one), and
    ``paid_today`` (a payment taken today may not have reached the bills the agent sees)."""
    if not permissions.can_execute_orders(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, task.customer.org_unit)
    day = today or business_day()
    due = read_due(actor, task.customer.account_number, today=day)
    figures = _precheck("field", due, day)
    order = selectors.live_disconnection(task)
    reasons = []
    if figures["result"] == "paid":
        reasons.append("not_in_arrears")
    if task.status != TaskStatus.OPEN:
        reasons.append("task_closed")
    if task.stage != Stage.DISCONNECTION:
        reasons.append("not_disconnection_stage")
    if order is None or order.status != OrderStatus.ISSUED:
        reasons.append("no_issued_order")
    last = due.last_payment if due is not None else None
    if last is not None and business_date(last[0], settings.TIME_ZONE) >= day:
        reasons.append("paid_today")
    return PreCheck(task, order, figures, last, reasons)


def record_visit(
    *,
    actor: User,
    task: DunningTask,
    outcome: str,
    reference: str,
    note: str = "",
    today: datetime.date | None = None,
) -> DunningVisit:
    """Report a visit. ``disconnected`` runs the precheck's rules (``pre_disconnection_check``:
    a customer who paid today is refused DISCONNECTION_PAID_TODAY, nothing written), then
    executes the task's issued disconnection order after its live pre-check (a customer who
    paid meanwhile: the refusal is written on the order, then
    NotInArrears raised, and no visit is recorded). A repeat of ``reference`` returns the first
    report; the reference with another task or outcome is refused."""
    if not permissions.can_execute_orders(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, task.customer.org_unit)
    if outcome not in VisitOutcome.values:
        raise ValidationFailed(_("Choose the visit's outcome."), field="outcome")
    cleaned = inputs.clean_text(note, max_length=MAX_VISIT_NOTE, field="note")
    earlier = _earlier(reference, task, outcome)
    if earlier is not None:
        return earlier
    day = today or business_day()
    refused: FieldOrder | None = None
    try:
        with transaction.atomic(durable=True):
            order = None
            if outcome == VisitOutcome.DISCONNECTED:
                # The precheck's rules, held by the server whatever the terminal asked first.
                check = pre_disconnection_check(actor=actor, task=task, today=day)
                if "paid_today" in check.reasons and "not_in_arrears" not in check.reasons:
                    raise DisconnectionPaidToday(account_number=task.customer.account_number)
                order = selectors.live_disconnection(task)
                if order is None or order.status != OrderStatus.ISSUED:
                    raise OrderNotIssued()
                order = _execute.within_transaction(actor=actor, order=order, today=day)
                if order.status == OrderStatus.REFUSED:
                    refused = order
            if refused is None:
                visit = DunningVisit.objects.create(
                    task=task,
                    agent=actor,
                    outcome=outcome,
                    note=cleaned,
                    order=order,
                    client_reference=reference,
                )
                record(
                    actor=actor,
                    event_type=DunningEvent.VISIT_RECORDED,
                    target=visit,
                    after={
                        "task": task.pk,
                        "outcome": outcome,
                        "order": order.pk if order else None,
                        "reference": reference,
                    },
                )
    except IntegrityError:
        # The same report sent twice at once: the unique reference decides.
        found = _earlier(reference, task, outcome)
        if found is None:
            raise
        return found
    if refused is not None:
        raise NotInArrears(account_number=task.customer.account_number, order_id=refused.pk)
    return visit


def _earlier(reference: str, task: DunningTask, outcome: str) -> DunningVisit | None:
    earlier = DunningVisit.objects.filter(client_reference=reference).first()
    if earlier is None:
        return None
    if earlier.task_id != task.pk or earlier.outcome != outcome:
        raise VisitReferenceReused(reference=reference)
    return earlier
