"""Back-office screens for dunning: rules, the tasks per route with their notices, the day's
call list of voice reminders, and disconnection and reconnection orders with their pre-checks.
The rules are the dunning services'."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.dunning import notices, permissions, selectors, services
from gridvend.dunning.models import (
    DunningRule,
    OrderKind,
    OrderStatus,
    Stage,
    TaskStatus,
    VoiceReminder,
)
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.org import selectors as org_selectors
from gridvend.readings import selectors as reading_selectors
from gridvend.tariffs import selectors as tariff_selectors
from gridvend.web.backoffice import access, exports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, unit_choices
from gridvend.web.backoffice.filtersets import (
    DunningRuleFilterSet,
    DunningTaskFilterSet,
    FieldOrderFilterSet,
)
from gridvend.web.errors import describe
from gridvend.web.lists import ObjectList
from gridvend.web.sessions import actor


def _tariff_choices(user: User) -> list[tuple[Any, str]]:
    return [(t.pk, f"{t.code} · {t.name}") for t in tariff_selectors.list_tariffs(user)[:2000]]


def _money(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


# Rules ------------------------------------------------------------------------------------------

RULES = ObjectList(
    name="dunning-rules",
    filterset=DunningRuleFilterSet,
    selector=selectors.list_rules,
    columns=[
        exports.Column("name", lambda r: r.name),
        exports.Column("unit_code", lambda r: r.org_unit.code),
        exports.Column("stage", lambda r: r.stage),
        exports.Column("days_overdue", lambda r: r.days_overdue),
        exports.Column(
            "minimum_arrears", lambda r: exports.money_major(r.minimum_arrears_minor, r.currency)
        ),
        exports.Column("currency", lambda r: r.currency),
        exports.Column("category", lambda r: r.category),
        exports.Column("tariff", lambda r: r.tariff.code if r.tariff else ""),
        exports.Column("active", lambda r: r.is_active),
    ],
    template="backoffice/dunning_rules.html",
    allowed=permissions.can_view_dunning,
    context=lambda user: {
        "units": unit_choices(user),
        "can_manage": permissions.can_manage_dunning(user),
    },
)
rule_list = RULES.list_view()


def _rule_form(request: HttpRequest, user: User, rule: DunningRule | None) -> Any:
    initial: dict[str, Any] = {"is_active": True, "send_sms": True}
    if rule is not None:
        initial = {
            "name": rule.name,
            "org_unit": rule.org_unit_id,
            "stage": rule.stage,
            "days_overdue": rule.days_overdue,
            "minimum_arrears": Money(rule.minimum_arrears_minor, rule.currency).to_major(),
            "category": rule.category,
            "tariff": rule.tariff_id,
            "send_sms": rule.send_sms,
            "send_voice": rule.send_voice,
            "is_active": rule.is_active,
        }
    return bo_forms.DunningRuleForm(
        request.POST or None,
        initial=initial,
        units=unit_choices(user),
        tariffs=_tariff_choices(user),
    )


def _rule_values(user: User, data: dict[str, Any]) -> dict[str, Any]:
    tariff = None
    if data["tariff"]:
        tariff = tariff_selectors.list_tariffs(user).filter(pk=data["tariff"]).first()
        if tariff is None:
            raise NotFound()
    return {
        "name": data["name"],
        "stage": data["stage"],
        "days_overdue": data["days_overdue"],
        "minimum_arrears_minor": Money.from_major(data["minimum_arrears"], settings.CURRENCY).minor,
        "currency": settings.CURRENCY,
        "category": data["category"],
        "tariff": tariff,
        "send_sms": data["send_sms"],
        "send_voice": data["send_voice"],
    }


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_manage_dunning(user))
    form = _rule_form(request, user, None)

    def save(data: dict[str, Any]) -> str:
        services.create_rule(
            actor=user,
            org_unit=org_selectors.get_unit(user, data["org_unit"]),
            **_rule_values(user, data),
        )
        return reverse("backoffice:dunning-rules")

    return form_page(
        request, form, title=_("New dunning rule"), save=save, saved=_("Dunning rule created.")
    )


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    rule = selectors.get_rule(user, pk)
    access.require(permissions.can_manage_dunning(user))
    form = _rule_form(request, user, rule)
    form.fields.pop("org_unit")

    def save(data: dict[str, Any]) -> str:
        services.update_rule(
            actor=user, rule=rule, is_active=data["is_active"], **_rule_values(user, data)
        )
        return reverse("backoffice:dunning-rules")

    return form_page(
        request,
        form,
        title=_("Edit dunning rule %(name)s") % {"name": rule.name},
        save=save,
        saved=_("Dunning rule saved."),
    )


# Tasks ------------------------------------------------------------------------------------------

TASK_COLUMNS = [
    exports.Column("account_number", lambda t: t.customer.account_number),
    exports.Column("customer", lambda t: t.customer.name),
    exports.Column("stage", lambda t: t.stage),
    exports.Column("status", lambda t: t.status),
    exports.Column("book_code", lambda t: t.book.code if t.book else ""),
    exports.Column("position", lambda t: t.position),
    exports.Column("arrears", lambda t: exports.money_major(t.arrears_minor, t.currency)),
    exports.Column("currency", lambda t: t.currency),
    exports.Column("overdue_since", lambda t: t.oldest_due_date),
    exports.Column("opened", lambda t: t.created_at),
]

TASKS = ObjectList(
    name="dunning-tasks",
    filterset=DunningTaskFilterSet,
    selector=selectors.list_tasks,
    columns=TASK_COLUMNS,
    template="backoffice/dunning_tasks.html",
    keyset=("-created_at", "-id"),
    allowed=permissions.can_view_dunning,
    context=lambda user: {
        "units": unit_choices(user),
        "stages": Stage.choices,
        "statuses": TaskStatus.choices,
        "books": list(reading_selectors.list_books(user)[:500]),
        "can_manage": permissions.can_manage_dunning(user),
    },
)
task_list = TASKS.list_view()
task_export = TASKS.export_view()


@login_required
@require_POST
def run(request: HttpRequest) -> HttpResponse:
    """Run the dunning rules of the user's subtree now (the daily job does the same)."""
    user = actor(request)
    access.require(permissions.can_manage_dunning(user))
    try:
        done = services.run_dunning(actor=user, today=services.business_day())
    except DomainError as exc:
        messages.error(request, describe(exc))
    else:
        messages.success(
            request,
            _(
                "%(checked)s accounts checked: %(opened)s tasks opened, %(closed)s closed, "
                "%(sms)s SMS and %(voice)s voice reminders, %(reconnections)s reconnection orders."
            )
            % {
                "checked": done.checked,
                "opened": done.opened,
                "closed": done.closed,
                "sms": done.sms,
                "voice": done.voice,
                "reconnections": done.reconnections,
            },
        )
        for code, count in sorted(done.problems.items()):
            messages.warning(
                request, _("%(count)s times: %(code)s") % {"count": count, "code": code}
            )
    return redirect("backoffice:dunning-tasks")


@login_required
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One task: the figures it was opened on, its notice, its voice reminder, its orders; a
    disconnection-stage task issues its disconnection order here (after the live pre-check)."""
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    task = selectors.get_task(user, pk)
    if request.method == "POST":
        access.require(permissions.can_manage_dunning(user))
        try:
            order = services.issue_disconnection_order(actor=user, task=task)
        except DomainError as exc:
            messages.error(request, describe(exc))
        else:
            messages.success(request, _("Disconnection order issued."))
            return redirect("backoffice:dunning-order", pk=order.pk)
        return redirect("backoffice:dunning-task", pk=task.pk)
    return render(
        request,
        "backoffice/dunning_task.html",
        {
            "task": task,
            "arrears": _money(task.arrears_minor, task.currency),
            "total_due": _money(task.total_due_minor, task.currency),
            "orders": list(task.orders.order_by("created_at", "id")),
            "voice": VoiceReminder.objects.filter(task=task).first(),
            "can_issue": permissions.can_manage_dunning(user)
            and task.stage == Stage.DISCONNECTION
            and task.status == TaskStatus.OPEN,
        },
    )


def _pdf(body: bytes, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def task_notice(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    task = selectors.get_task(user, pk)
    return _pdf(notices.notices_pdf([task]), f"notice-{task.pk}.pdf")


@login_required
def route_notices(request: HttpRequest, pk: int) -> HttpResponse:
    """A book's open tasks' notices in route order, for the field agent."""
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    book = reading_selectors.get_book(user, pk)
    tasks = list(selectors.route_tasks(user, book.pk)[: notices.MAX_BATCH])
    return _pdf(notices.notices_pdf(tasks), f"notices-{book.code}.pdf")


# Call lists -------------------------------------------------------------------------------------

CALL_COLUMNS = [
    exports.Column("phone", lambda v: v.phone),
    exports.Column("language", lambda v: v.language),
    exports.Column("wav_file", lambda v: v.file_name),
    exports.Column(
        "amount_due", lambda v: exports.money_major(v.task.arrears_minor, v.task.currency)
    ),
    exports.Column("currency", lambda v: v.task.currency),
    exports.Column("account_number", lambda v: v.task.customer.account_number),
    exports.Column("duration_seconds", lambda v: round(v.duration_ms / 1000, 1)),
]


def _day(request: HttpRequest) -> Any:
    form = bo_forms.CallListDayForm(request.GET or {"day": services.business_day().isoformat()})
    if not form.is_valid():
        return form, None
    return form, form.cleaned_data["day"]


@login_required
def call_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    form, day = _day(request)
    calls = list(selectors.call_list(user, day)[:1000]) if day else []
    return render(
        request,
        "backoffice/dunning_calls.html",
        {"form": form, "day": day, "calls": calls},
    )


@login_required
def call_list_csv(request: HttpRequest) -> HttpResponseBase:
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    _form, day = _day(request)
    if day is None:
        raise NotFound()
    return exports.csv_response(
        f"call-list-{day.isoformat()}", CALL_COLUMNS, selectors.call_list(user, day).iterator()
    )


@login_required
def voice_file(request: HttpRequest, pk: int) -> HttpResponseBase:
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    reminder = selectors.get_voice(user, pk)
    root = settings.VOICE_DIR.resolve()
    path = (root / reminder.file_name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound()
    response = FileResponse(path.open("rb"), content_type="audio/wav")
    response["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


# Field orders -----------------------------------------------------------------------------------

ORDERS = ObjectList(
    name="dunning-orders",
    filterset=FieldOrderFilterSet,
    selector=selectors.list_orders,
    columns=[
        exports.Column("kind", lambda o: o.kind),
        exports.Column("status", lambda o: o.status),
        exports.Column("account_number", lambda o: o.customer.account_number),
        exports.Column("refusal_code", lambda o: o.refusal_code),
        exports.Column("created", lambda o: o.created_at),
        exports.Column("executed", lambda o: o.executed_at),
    ],
    template="backoffice/dunning_orders.html",
    keyset=("-created_at", "-id"),
    allowed=permissions.can_view_dunning,
    context=lambda user: {
        "units": unit_choices(user),
        "kinds": OrderKind.choices,
        "statuses": OrderStatus.choices,
    },
)
order_list = ORDERS.list_view()


@login_required
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An order and its pre-checks; the field agent reports it executed (a disconnection is
    checked against billing once more first)."""
    user = actor(request)
    access.require(permissions.can_view_dunning(user))
    order = selectors.get_order(user, pk)
    if request.method == "POST":
        access.require(permissions.can_execute_orders(user))
        try:
            services.execute_order(actor=user, order=order)
        except DomainError as exc:
            messages.error(request, describe(exc))
        else:
            messages.success(request, _("Order executed."))
        return redirect("backoffice:dunning-order", pk=order.pk)
    checks = [
        {**check, "arrears": _money(int(check["arrears_minor"]), check["currency"])}
        if check.get("currency")
        else {**check, "arrears": "—"}
        for check in order.prechecks
    ]
    return render(
        request,
        "backoffice/dunning_order.html",
        {
            "order": order,
            "checks": checks,
            "can_execute": permissions.can_execute_orders(user)
            and order.status == OrderStatus.ISSUED,
        },
    )
