"""Shift oversight screens: the shifts of the supervisor's vending points with their over/short,
a shift's Z summary with sign-off and force-close, and the printable banking slip per day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.org import selectors as org_selectors
from gridvend.reports import shifts as shift_reports
from gridvend.vending import selectors as vending_selectors
from gridvend.vending import shifts
from gridvend.vending.models import Shift, ShiftStatus
from gridvend.web.errors import describe
from gridvend.web.filters import InvalidFilter
from gridvend.web.receipts.render import build_shift_report, format_time, utility_time
from gridvend.web.supervisor import forms
from gridvend.web.supervisor.filtersets import ShiftFilterSet
from gridvend.web.supervisor.views import _actor, _page

PAGE_SIZE = 50


def _points(actor: User) -> list[tuple[int, str]]:
    """Every vending point of the actor's subtree that keeps shifts (closed points too: their
    old shifts are still looked at)."""
    return [
        (p.pk, f"{p.name} ({p.code})")
        for p in org_selectors.list_vending_points(actor)[:1000]
        if shifts.shift_required(p)
    ]


def _today() -> date:
    return business_date(timezone.now(), settings.TIME_ZONE)


def _clock(moment: datetime | None) -> str:
    """The time of day in the utility's zone (a banking slip is one business day)."""
    return f"{utility_time(moment):%H:%M}" if moment is not None else ""


def _slip_url(point_id: int, day: date) -> str:
    query = urlencode({"point": point_id, "date": day.isoformat()})
    return f"{reverse('supervisor:banking-slip')}?{query}"


def _row(shift: Shift, now: Any) -> dict[str, Any]:
    def money(minor: int) -> Money:
        return Money(int(minor), shift.currency)

    closed = shift.status == ShiftStatus.CLOSED
    counted = closed and not shift.is_force_closed
    return {
        "shift": shift,
        "expected": money(sum(shift.expected.values())) if closed else None,
        "counted": money(sum(shift.counted.values())) if counted else None,
        "over_short": money(shift.over_short_minor) if counted else None,
        "abandoned": shifts.is_abandoned(shift, now),
        "slip_url": _slip_url(
            shift.vending_point_id, business_date(shift.closed_at, settings.TIME_ZONE)
        )
        if closed and shift.closed_at is not None
        else "",
    }


@login_required
def shift_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request, shifts.can_view_shifts)
    points = _points(actor)
    filterset = ShiftFilterSet(
        request.GET, actor=actor, selector=vending_selectors.list_shifts, points=points
    )
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    query = request.GET.copy()
    query.pop("page", None)
    return _page(
        request,
        "supervisor/shift_list.html",
        {
            "page": page,
            "rows": [_row(s, now) for s in page],
            "filters": filterset.echo(),
            "query": query.urlencode(),
            "points": points,
            "statuses": ShiftStatus.choices,
            "slip_form": forms.BankingSlipForm(
                points=points, initial={"date": _today().isoformat()}
            ),
            "abandon_hours": shifts.abandon_after().total_seconds() // 3600,
        },
    )


def _detail(
    request: HttpRequest,
    shift: Shift,
    *,
    sign_off_form: forms.ShiftSignOffForm | None = None,
    force_close_form: forms.ShiftForceCloseForm | None = None,
    status: int = 200,
) -> HttpResponse:
    actor = _actor(request)
    z = build_shift_report(
        shift_reports.z_report(actor, shift), blind=shifts.expected_hidden(actor, shift)
    )
    now = timezone.now()
    supervises = shifts.can_supervise_shifts(actor) and actor.pk != shift.operator_id
    closed = shift.status == ShiftStatus.CLOSED
    row = _row(shift, now)
    return _page(
        request,
        "supervisor/shift_detail.html",
        {
            "shift": shift,
            "z": z,
            "row": row,
            "may_sign_off": supervises and closed and shift.signed_off_by_id is None,
            "may_force_close": supervises and row["abandoned"],
            "force_close_from": format_time(shift.opened_at + shifts.abandon_after()),
            "sign_off_form": sign_off_form or forms.ShiftSignOffForm(),
            "force_close_form": force_close_form or forms.ShiftForceCloseForm(),
        },
        status=status,
    )


@login_required
def shift_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request, shifts.can_view_shifts)
    return _detail(request, vending_selectors.get_shift(actor, pk))


def _act(
    request: HttpRequest,
    pk: int,
    form_class: type[forms.ShiftSignOffForm] | type[forms.ShiftForceCloseForm],
    act: Any,
    done: str,
) -> HttpResponse:
    """Run a sign-off or force-close; a refusal shows the shift again with the reason."""
    actor = _actor(request, shifts.can_supervise_shifts)
    shift = vending_selectors.get_shift(actor, pk)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            act(actor, shift, form.cleaned_data)
            messages.success(request, done)
            return redirect("supervisor:shift-detail", pk=shift.pk)
        except DomainError as exc:
            if isinstance(exc, AccessDenied | NotFound):
                raise
            form.add_error(None, describe(exc))
        shift.refresh_from_db()
    if isinstance(form, forms.ShiftSignOffForm):
        return _detail(request, shift, sign_off_form=form, status=400)
    return _detail(request, shift, force_close_form=form, status=400)


@require_POST
@login_required
def shift_sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    def act(actor: User, shift: Shift, data: dict[str, Any]) -> None:
        cash = data["witnessed_cash"]
        shifts.sign_off_shift(
            actor=actor,
            shift=shift,
            note=data["note"],
            witnessed_cash=Money.from_major(cash, shift.currency) if cash is not None else None,
        )

    return _act(request, pk, forms.ShiftSignOffForm, act, _("Shift signed off."))


@require_POST
@login_required
def shift_force_close(request: HttpRequest, pk: int) -> HttpResponse:
    def act(actor: User, shift: Shift, data: dict[str, Any]) -> None:
        shifts.force_close_shift(actor=actor, shift=shift, reason=data["reason"])

    return _act(
        request,
        pk,
        forms.ShiftForceCloseForm,
        act,
        _("Shift force-closed. Nothing was counted: the Z report says so."),
    )


@login_required
def banking_slip(request: HttpRequest) -> HttpResponse:
    """Without a choice, the form; with one, the printable slip of that point and day."""
    actor = _actor(request, shifts.can_view_shifts)
    points = _points(actor)
    if not request.GET:
        form = forms.BankingSlipForm(points=points, initial={"date": _today().isoformat()})
        return _page(request, "supervisor/banking_slip_choose.html", {"form": form})
    form = forms.BankingSlipForm(request.GET, points=points)
    if not form.is_valid():
        field, problems = next(iter(form.errors.items()))
        raise InvalidFilter(field=field, problem=" ".join(str(p) for p in problems))
    point = org_selectors.get_vending_point(actor, form.cleaned_data["point"])
    slip = shift_reports.banking_slip(actor, point, form.cleaned_data["date"])

    def money(minor: int) -> Money:
        return Money(int(minor), slip.currency)

    context = {
        "slip": slip,
        "utility_name": settings.UTILITY_NAME,
        "rows": [
            {
                "shift": s.shift,
                "closed_at": _clock(s.shift.closed_at),
                "expected": money(s.expected_cash_minor),
                "counted": money(s.counted_cash_minor)
                if s.counted_cash_minor is not None
                else None,
            }
            for s in slip.shifts
        ],
        "refunds": [
            {
                "refund": r,
                "amount": money(r.amount_minor),
                "time": _clock(r.created_at),
            }
            for r in slip.refunds
        ],
        "counted_cash": money(slip.counted_cash_minor),
        "cash_refunds": money(slip.cash_refunds_minor),
        "other_refunds": money(slip.other_refunds_minor),
        "to_bank": money(slip.to_bank_minor),
        "printed_at": format_time(timezone.now()),
        "printed_by": actor.full_name or actor.username,
    }
    return render(request, "supervisor/banking_slip.html", context)
