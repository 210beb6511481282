"""Back-office screens of the offline vending stations (master control): the list (status, last
contact, allowance left, unsynced age, open conflicts), registration (the one-time code shown
once), a station's page (allowances, batches, suspend, reinstate, revoke, a new code) and the
top-up form. Every write goes through ``stations.services``, which checks the actor again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.org import selectors as org_selectors
from gridvend.stations import permissions, selectors
from gridvend.stations.conflicts import can_view_station_conflicts
from gridvend.stations.models import Station, StationRole, StationStatus
from gridvend.stations.services import allowances, registration
from gridvend.web.backoffice import access
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, unit_choices
from gridvend.web.backoffice.filtersets import StationFilterSet
from gridvend.web.lists import page_of, query_without_page
from gridvend.web.sessions import actor

MAX_CHOICES = 500
RECENT_ROWS = 20


@login_required
def station_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_stations(user))
    filterset = StationFilterSet(request.GET, actor=user, selector=selectors.list_stations)
    page = page_of(request, filterset.qs)
    rows = [{"station": s, "figures": selectors.station_figures(user, s)} for s in page]
    context = {
        "filters": filterset.form,
        "echo": filterset.echo(),
        "page": page,
        "rows": rows,
        "query": query_without_page(request),
        "can_manage": permissions.can_manage_stations(user),
        "can_see_conflicts": can_view_station_conflicts(user),
        "currency": settings.CURRENCY,
        "now": timezone.now(),
    }
    return render(request, "backoffice/stations.html", context)


def _show_code(request: HttpRequest, station: Station, code: str) -> HttpResponse:
    """The one-time code, on this page only: it is never shown again."""
    context = {
        "station": station,
        "code": code,
        "master_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "backoffice/station_code.html", context)


@login_required
def station_register(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_manage_stations(user))
    points = [
        (p.pk, f"{p.name} ({p.code})")
        for p in selectors.points_for_a_new_station(user)[:MAX_CHOICES]
    ]
    relays = [
        (s.pk, f"{s.name} ({s.code})")
        for s in selectors.list_stations(user)
        .filter(role=StationRole.RELAY)
        .exclude(status=StationStatus.REVOKED)[:MAX_CHOICES]
    ]
    form = bo_forms.StationRegisterForm(
        request.POST or None, units=unit_choices(user), points=points, relays=relays
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            station, code = registration.register_station(
                actor=user,
                code=data["code"],
                name=data["name"],
                role=data["role"],
                org_unit=org_selectors.get_unit(user, data["org_unit"]),
                vending_point=(
                    org_selectors.get_vending_point(user, data["vending_point"])
                    if data["vending_point"]
                    else None
                ),
                parent=(selectors.get_station(user, data["parent"]) if data["parent"] else None),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return _show_code(request, station, code)
    context = {
        "form": form,
        "title": _("New offline station"),
        "intro": format_html(
            _(
                "The station is installed with {command} and the one-time code shown next. A "
                "selling station needs an open vending point of the offline-station channel "
                "that no other station has; a business-unit relay sells nothing and needs none."
            ),
            command=format_html('<code dir="ltr">{}</code>', "gridvend station init"),
        ),
    }
    return render(request, "backoffice/form_page.html", context)


@login_required
def station_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_stations(user))
    station = selectors.get_station(user, pk)
    form = bo_forms.StationActionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        access.require(permissions.can_manage_stations(user))
        if form.is_valid():
            try:
                code = _act(user, station, form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                if code is not None:
                    return _show_code(request, station, code)
                messages.success(request, _("The station was changed."))
                return redirect("backoffice:station", pk=station.pk)
        else:
            status = 400
    context = {
        "station": station,
        "figures": selectors.station_figures(user, station),
        "form": form,
        "allowances": list(selectors.list_station_allowances(user, station)[:RECENT_ROWS]),
        "batches": list(selectors.list_station_batches(user, station)[:RECENT_ROWS]),
        "can_manage": permissions.can_manage_stations(user),
        "can_see_conflicts": can_view_station_conflicts(user),
        "currency": settings.CURRENCY,
    }
    return render(request, "backoffice/station.html", context, status=status)


def _act(user: User, station: Station, data: dict[str, Any]) -> str | None:
    action, reason = data["action"], data.get("reason") or ""
    if action == "new_code":
        return registration.reissue_enrolment_code(actor=user, station=station)[1]
    change = {
        "suspend": registration.suspend_station,
        "reinstate": registration.reinstate_station,
        "revoke": registration.revoke_station,
    }[action]
    change(actor=user, station=station, reason=reason)
    return None


@login_required
def station_allowance(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_manage_stations(user))
    station = selectors.get_station(user, pk)
    form = bo_forms.StationAllowanceForm(
        request.POST or None, currency=settings.CURRENCY, initial={"valid_days": 7}
    )

    def save(data: dict[str, Any]) -> str:
        allowances.issue_allowance(
            actor=user,
            station=station,
            ceiling=data["ceiling"],
            valid_until=timezone.now() + timedelta(days=data["valid_days"]),
        )
        return reverse("backoffice:station", kwargs={"pk": station.pk})

    return form_page(
        request,
        form,
        title=_("Top up the allowance of station %(station)s") % {"station": station.code},
        save=save,
        saved=_("The allowance was issued: the station takes it at its next contact."),
        intro=_(
            "The ceiling counts every sale the station made offline since its enrolment: a "
            "top-up raises it (it never goes down). The station may not sell beyond it, nor "
            "after the allowance's validity ends."
        ),
    )
