"""Supervisor screens. Each screen checks the capability or role before showing anything; the
service checks again before writing. Refusals are shown in the domain error's own words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role, rank
from gridvend.identity.selectors import get_user
from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.kernel.money import Money
from gridvend.meters import faults, keychanges
from gridvend.meters import permissions as meter_permissions
from gridvend.meters import selectors as meter_selectors
from gridvend.meters import services as meters
from gridvend.meters.models import FINAL_FAULT_STATUSES, FaultReport, FaultStatus
from gridvend.meters.selectors import find_meter, pending_key_change
from gridvend.org import selectors as org_selectors
from gridvend.org.models import VendingPointStatus
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import FreeIssueRequest, RequestStatus
from gridvend.vending.selectors import get_sale, own_vending_point
from gridvend.web.caching import no_store
from gridvend.web.errors import describe
from gridvend.web.receipts.render import receipt_urls
from gridvend.web.sessions import actor
from gridvend.web.supervisor import forms
from gridvend.web.supervisor.filtersets import FaultFilterSet
from gridvend.web.supervisor.selectors import (
    get_free_issue_request,
    get_reversal_request,
    pending_free_issue_requests,
    pending_reversal_requests,
)

MANAGER = rank(Role.VENDING_POINT_MANAGER)
MASTER_STATION = rank(Role.MASTER_STATION_MANAGER)


# --- who may open which screen ----------------------------------------------------------------


def _has(actor: User, capability: str) -> bool:
    return actor.is_active and actor.has_capability(capability)


def can_decide_reversals(actor: User) -> bool:
    return _has(actor, Capability.FINANCE)


def can_request_reversals(actor: User) -> bool:
    return _has(actor, Capability.CASHIER) or _has(actor, Capability.FINANCE)


def can_free_issue(actor: User) -> bool:
    return _has(actor, Capability.FINANCE)


def can_issue_engineering(actor: User) -> bool:
    return _has(actor, Capability.CUSTOMER_CARE) and actor.rank >= MANAGER


def can_manage_meter_status(actor: User) -> bool:
    return _has(actor, Capability.CUSTOMER_CARE) and actor.rank >= MANAGER


def can_request_key_change(actor: User) -> bool:
    return actor.is_active and actor.rank >= MASTER_STATION


def allowed_actions(actor: User) -> dict[str, bool]:
    return {
        "decide_reversals": can_decide_reversals(actor),
        "request_reversals": can_request_reversals(actor),
        "free_issue": can_free_issue(actor),
        "engineering": can_issue_engineering(actor),
        "meter_status": can_manage_meter_status(actor),
        "key_change": can_request_key_change(actor),
        "view_faults": meter_permissions.can_view_faults(actor),
        "view_shifts": shifts.can_view_shifts(actor),
        "register_faults": meter_permissions.can_register_faults(actor),
    }


# --- plumbing ----------------------------------------------------------------------------------


def _actor(request: HttpRequest, allowed: Any = None) -> User:
    user = actor(request)
    if allowed is not None and not allowed(user):
        raise AccessDenied()
    return user


def _refused(form: Any, exc: DomainError) -> int:
    """Put a refusal on the form and give the status to answer with. Access errors go up to the
    middleware (403 / 404); a meter or sale typed in that is not in the user's scope answers 404
    with the form, so the user can correct the number."""
    if isinstance(exc, AccessDenied):
        raise exc
    field = exc.params.get("field")
    form.add_error(field if field in form.fields else None, describe(exc))
    not_found = isinstance(exc, NotFound) or exc.code == ErrorCode.METER_NOT_FOUND
    return 404 if not_found else 200


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    actor = _actor(request)
    return render(request, template, {**context, "can": allowed_actions(actor)}, status=status)


def _points(actor: User) -> tuple[list[tuple[int, str]], int | None]:
    """The active points the user may issue at, and the one to preselect (their own, if any)."""
    points = list(
        org_selectors.list_vending_points(actor).filter(status=VendingPointStatus.ACTIVE)[:500]
    )
    return [(p.pk, f"{p.name} ({p.code})") for p in points], own_vending_point(actor, points)


def _duration(taken: timedelta | None) -> str:
    if taken is None:
        return ""
    minutes = max(int(taken.total_seconds()) // 60, 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(days)d d %(hours)d h %(minutes)d min") % {
            "days": days,
            "hours": hours,
            "minutes": minutes,
        }
    return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}


# --- dashboard and reversal approvals ----------------------------------------------------------


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, lambda u: any(allowed_actions(u).values()))
    pending = []
    if can_decide_reversals(actor):
        pending = [
            (
                item,
                Money(item.sale.tender_minor, item.sale.currency),
                item.requested_by_id == actor.pk,
            )
            for item in pending_reversal_requests(actor)[:200]
        ]
    free_requests = []
    if can_decide_reversals(actor):
        free_requests = [
            (item, item.requested_by_id == actor.pk)
            for item in pending_free_issue_requests(actor)[:200]
        ]
    open_faults = None
    if meter_permissions.can_view_faults(actor):
        open_faults = (
            meter_selectors.list_faults(actor).exclude(status__in=FINAL_FAULT_STATUSES).count()
        )
    return _page(
        request,
        "supervisor/dashboard.html",
        {
            "pending": pending,
            "free_requests": free_requests,
            "decision_form": forms.ApprovalDecisionForm(),
            "open_faults": open_faults,
        },
    )


def _decide(request: HttpRequest, decide: Callable[[User, str], str]) -> HttpResponse:
    """Run one approve/reject decision; ``decide`` returns the message to show on success."""
    actor = _actor(request, can_decide_reversals)
    form = forms.ApprovalDecisionForm(request.POST)
    if not form.is_valid():
        # Say what is wrong with the note rather than deciding without it.
        problems = [str(e) for errors in form.errors.values() for e in errors]
        messages.error(request, " ".join(problems))
        return redirect("supervisor:dashboard")
    note = form.cleaned_data["note"]
    try:
        messages.success(request, decide(actor, note))
    except DomainError as exc:
        if isinstance(exc, AccessDenied | NotFound):
            raise
        messages.error(request, describe(exc))
    return redirect("supervisor:dashboard")


def _reversal_decision(request: HttpRequest, pk: int, *, approve: bool) -> HttpResponse:
    def decide(actor: User, note: str) -> str:
        item = get_reversal_request(actor, pk)
        if approve:
            vending.approve_reversal(actor=actor, request=item, note=note)
            return _("Sale %(sale)s reversed.") % {"sale": item.sale.reference}
        vending.reject_reversal(actor=actor, request=item, note=note)
        return _("Reversal of sale %(sale)s rejected.") % {"sale": item.sale.reference}

    return _decide(request, decide)


@require_POST
@login_required
def approve_reversal(request: HttpRequest, pk: int) -> HttpResponse:
    return _reversal_decision(request, pk, approve=True)


@require_POST
@login_required
def reject_reversal(request: HttpRequest, pk: int) -> HttpResponse:
    return _reversal_decision(request, pk, approve=False)


@login_required
def request_reversal(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, can_request_reversals)
    initial = {"sale_reference": request.GET.get("sale", "")[:24]}
    form = forms.ReversalRequestForm(request.POST or None, initial=initial)
    status = 200
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            sale = get_sale(actor, form.cleaned_data["sale_reference"])
            created = vending.request_reversal(
                actor=actor, sale=sale, reason=form.cleaned_data["reason"]
            )
            form = forms.ReversalRequestForm()
        except DomainError as exc:
            status = _refused(form, exc)
    return _page(
        request,
        "supervisor/request_reversal.html",
        {"form": form, "created": created},
        status=status,
    )


# --- tokens ------------------------------------------------------------------------------------


def _issue(
    request: HttpRequest,
    *,
    form_class: type[forms.FreeIssueForm] | type[forms.EngineeringForm],
    template: str,
    issue: Any,
    actor: User,
) -> HttpResponse:
    """Draw the form, or issue once per client reference and show the tokens beside a new form."""
    points, own = _points(actor)
    form = form_class(request.POST or None, points=points, initial={"vending_point": own})
    status = 200
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            point = org_selectors.get_vending_point(actor, data["vending_point"])
            result = issue(point, data)
            form = form_class(points=points, initial={"vending_point": point.pk})
        except DomainError as exc:
            status = _refused(form, exc)
    return _page(request, template, {"form": form, "result": result}, status=status)


@no_store
@login_required
def free_issue(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, can_free_issue)

    def issue(point: Any, data: dict[str, Any]) -> vending.SaleResult | None:
        try:
            return vending.issue_free_credit(
                actor=actor,
                vending_point=point,
                client_reference=data["client_reference"],
                meter_number=data["meter_number"],
                kwh=data["kwh"],
                reason=data["reason"],
            )
        except DomainError as exc:
            if exc.code != "FREE_ISSUE_NEEDS_APPROVAL":
                raise
            refusal = describe(exc)
        # Above the limit (this issue alone, or with the meter's or this person's free issues in
        # the period) the form becomes a request that another person decides.
        vending.request_free_issue(
            actor=actor,
            vending_point=point,
            client_reference=data["client_reference"],
            meter_number=data["meter_number"],
            kwh=data["kwh"],
            reason=data["reason"],
        )
        messages.info(
            request, f"{refusal} {_('The request is waiting on the supervisor dashboard.')}"
        )
        return None

    return _issue(
        request,
        form_class=forms.FreeIssueForm,
        template="supervisor/free_issue.html",
        issue=issue,
        actor=actor,
    )


@no_store
@login_required
def engineering_token(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, can_issue_engineering)

    def issue(point: Any, data: dict[str, Any]) -> vending.SaleResult:
        return vending.issue_engineering_token(
            actor=actor,
            vending_point=point,
            client_reference=data["client_reference"],
            meter_number=data["meter_number"],
            kind=data["kind"],
            value=data["value"],
            reason=data["reason"],
        )

    return _issue(
        request,
        form_class=forms.EngineeringForm,
        template="supervisor/engineering_token.html",
        issue=issue,
        actor=actor,
    )


# --- meters ------------------------------------------------------------------------------------


@login_required
def key_change(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, can_request_key_change)
    form = forms.KeyChangeForm(request.POST or None)
    status = 200
    change = None
    if request.method == "POST" and form.is_valid():
        try:
            meter = find_meter(actor, form.cleaned_data["meter_number"])
            change = keychanges.request_key_change(
                actor=actor, meter=meter, reason=form.cleaned_data["reason"], **form.changes()
            )
            form = forms.KeyChangeForm()
        except DomainError as exc:
            status = _refused(form, exc)
    return _page(
        request, "supervisor/key_change.html", {"form": form, "change": change}, status=status
    )


@login_required
def meter_status(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, can_manage_meter_status)
    initial = {"meter_number": request.GET.get("meter", "")[:32]}
    form = forms.MeterStatusForm(request.POST or None, initial=initial)
    status = 200
    meter = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            found = find_meter(actor, data["meter_number"])
            change = meters.block_meter if data["action"] == "block" else meters.unblock_meter
            meter = change(actor=actor, meter=found, reason=data["reason"])
            form = forms.MeterStatusForm()
        except DomainError as exc:
            status = _refused(form, exc)
    return _page(
        request,
        "supervisor/meter_status.html",
        {
            "form": form,
            "meter": meter,
            "key_change": pending_key_change(meter) if meter is not None else None,
        },
        status=status,
    )


# --- faults ------------------------------------------------------------------------------------


def _fault_row(fault: FaultReport, now: Any = None) -> dict[str, Any]:
    return {
        "fault": fault,
        "taken": _duration(meter_selectors.follow_up_time(fault)),
        "age": _duration(meter_selectors.age(fault, now)),
        "due": meter_selectors.due_at(fault),
        "breached": meter_selectors.is_breached(fault, now),
    }


@login_required
def fault_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, meter_permissions.can_view_faults)
    now = timezone.now()
    filterset = FaultFilterSet(request.GET, actor=actor)
    page = Paginator(filterset.qs, 100).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return _page(
        request,
        "supervisor/fault_list.html",
        {
            "rows": [_fault_row(f, now) for f in page],
            "page": page,
            "query": query.urlencode(),
            "filter_form": filterset.form,
        },
    )


@login_required
def fault_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, meter_permissions.can_register_faults)
    form = forms.FaultForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            meter = find_meter(actor, data["meter_number"])
            fault = faults.register_fault(
                actor=actor,
                meter=meter,
                description=data["description"],
                category=data["category"],
                reported_via=data["reported_via"],
                reporter_name=data["reporter_name"],
                reporter_phone=data["reporter_phone"],
            )
            messages.success(request, _("Fault registered."))
            return redirect("supervisor:fault-detail", pk=fault.pk)
        except DomainError as exc:
            status = _refused(form, exc)
    return _page(request, "supervisor/fault_form.html", {"form": form}, status=status)


def _next_statuses(actor: User, fault: FaultReport) -> list[tuple[str, str]]:
    """The statuses the actor may move the fault to by hand from where it is."""
    found = []
    for status, starts in faults.TRANSITIONS.items():
        if fault.status not in starts:
            continue
        allowed = (
            meter_permissions.can_resolve_faults(actor)
            if status == FaultStatus.IN_PROGRESS
            else meter_permissions.can_triage_faults(actor)
        )
        if allowed:
            found.append((status, str(FaultStatus(status).label)))
    return found


def _agents(actor: User, fault: FaultReport) -> list[tuple[int, str]]:
    return [
        (u.pk, f"{u.full_name} ({u.username})")
        for u in meter_selectors.assignable_users(actor, fault.meter)[:500]
    ]


@login_required
def fault_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request, meter_permissions.can_view_faults)
    fault = meter_selectors.get_fault(actor, pk)
    action = request.POST.get("action", "")
    agents = _agents(actor, fault) if meter_permissions.can_assign_faults(actor) else []
    assign_form = forms.FaultAssignForm(
        request.POST if action == "assign" else None,
        initial={"assignee": fault.assignee_id},
        agents=agents,
    )
    category_form = forms.FaultCategoryForm(
        request.POST if action == "categorise" else None, initial={"category": fault.category}
    )
    resolve_form = forms.FaultResolveForm(request.POST if action == "resolve" else None)
    statuses = _next_statuses(actor, fault)
    status_form = forms.FaultStatusForm(
        request.POST if action == "status" else None, statuses=statuses
    )
    note_form = forms.FaultNoteForm(request.POST if action == "note" else None)
    can_note = meter_permissions.can_note_faults(actor)
    if request.method == "POST":
        if action in ("assign", "categorise"):
            if not meter_permissions.can_assign_faults(actor):
                raise AccessDenied()
            form: Any = assign_form if action == "assign" else category_form
        elif action == "resolve":
            if not meter_permissions.can_resolve_faults(actor):
                raise AccessDenied()
            form = resolve_form
        elif action == "status":
            if not statuses and not meter_permissions.can_triage_faults(actor):
                raise AccessDenied()
            form = status_form
        elif action == "note":
            if not can_note:
                raise AccessDenied()
            form = note_form
        else:
            raise AccessDenied()
        if form.is_valid():
            try:
                if action == "assign":
                    assignee = get_user(actor, form.cleaned_data["assignee"])
                    faults.assign_fault(actor=actor, fault=fault, assignee=assignee)
                    messages.success(request, _("Field agent assigned."))
                elif action == "categorise":
                    faults.categorise_fault(
                        actor=actor, fault=fault, category=form.cleaned_data["category"]
                    )
                    messages.success(request, _("Category changed."))
                elif action == "status":
                    faults.change_fault_status(
                        actor=actor, fault=fault, status=form.cleaned_data["status"]
                    )
                    messages.success(request, _("Status changed."))
                elif action == "note":
                    faults.add_fault_note(
                        actor=actor,
                        fault=fault,
                        text=form.cleaned_data["text"],
                        is_public=form.cleaned_data["is_public"],
                    )
                    messages.success(request, _("Note added."))
                else:
                    faults.resolve_fault(
                        actor=actor, fault=fault, solution=form.cleaned_data["solution"]
                    )
                    messages.success(request, _("Fault resolved."))
                return redirect("supervisor:fault-detail", pk=fault.pk)
            except NotFound:
                form.add_error("assignee", _("Choose a field agent from the list."))
            except DomainError as exc:
                _refused(form, exc)
    can_assign = meter_permissions.can_assign_faults(actor) and not fault.is_final
    return _page(
        request,
        "supervisor/fault_detail.html",
        {
            "fault": fault,
            **_fault_row(fault),
            "sla_hours": meter_selectors.sla_hours(fault.category),
            "assign_form": assign_form,
            "category_form": category_form,
            "resolve_form": resolve_form,
            "status_form": status_form,
            "note_form": note_form,
            "notes": meter_selectors.fault_notes(actor, fault),
            "can_change_status": bool(status_form.errors) or bool(statuses),
            "can_note": can_note,
            "portal_report": getattr(fault, "portal_report", None),
            # A refused form stays on the page, with its reason, even if the step is now closed.
            "can_assign": bool(assign_form.errors) or can_assign,
            "can_categorise": bool(category_form.errors) or can_assign,
            "can_resolve": bool(resolve_form.errors)
            or (
                meter_permissions.can_resolve_faults(actor)
                and fault.status in (FaultStatus.ASSIGNED, FaultStatus.IN_PROGRESS)
            ),
        },
    )


def _free_issue_decision(request: HttpRequest, pk: int, *, approve: bool) -> HttpResponse:
    def decide(actor: User, note: str) -> str:
        item = get_free_issue_request(actor, pk)
        if approve:
            result = vending.approve_free_issue(actor=actor, request=item, note=note)
            return _("Free issue approved: sale %(sale)s.") % {"sale": result.sale.reference}
        vending.reject_free_issue(actor=actor, request=item, note=note)
        return _("Free issue request rejected.")

    response = _decide(request, decide)
    if (
        approve
        and FreeIssueRequest.objects.filter(
            pk=pk, status=RequestStatus.APPROVED, sale__isnull=False
        ).exists()
    ):
        # The approver issued the tokens: show them (and the receipt), not just a reference.
        return redirect("supervisor:free-issue-request", pk=pk)
    return response


@no_store
@login_required
def free_issue_request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A free-issue request and, once approved, the tokens it issued with their receipt."""
    actor = _actor(request, lambda u: can_free_issue(u) or can_decide_reversals(u))
    item = get_free_issue_request(actor, pk)
    sale = item.sale
    result = None
    if sale is not None:
        result = {"sale": sale, "tokens": list(sale.tokens.order_by("sequence")), "replayed": False}
    context = {"item": item, "result": result, "urls": receipt_urls(sale) if sale else {}}
    return _page(request, "supervisor/free_issue_request.html", context)


@require_POST
@login_required
def approve_free_issue(request: HttpRequest, pk: int) -> HttpResponse:
    return _free_issue_decision(request, pk, approve=True)


@require_POST
@login_required
def reject_free_issue(request: HttpRequest, pk: int) -> HttpResponse:
    return _free_issue_decision(request, pk, approve=False)
