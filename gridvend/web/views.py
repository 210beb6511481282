"""Back-office screens: sign-in, organisation tree, vending points, users, operation log."""

from __future__ import annotations

from typing import Any

import pyotp
import segno
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.audit import selectors as audit_selectors
from gridvend.identity import permissions
from gridvend.identity import selectors as user_selectors
from gridvend.identity import services as identity
from gridvend.identity.errors import AccessDenied, AccountLocked
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import clean_text, parse_int
from gridvend.org import selectors as org_selectors
from gridvend.org import services as org
from gridvend.org.models import Channel
from gridvend.web import forms, sessions
from gridvend.web.backoffice import access as bo_access
from gridvend.web.backoffice import exports
from gridvend.web.backoffice.filtersets import (
    AuditFilterSet,
    SearchFilterSet,
    VendingPointFilterSet,
)
from gridvend.web.errors import describe
from gridvend.web.filters import MAX_ID, InvalidFilter
from gridvend.web.lists import CURSOR, Keyset, ObjectList, query_without_page, row_count


def _form_error(form: Any, exc: DomainError) -> None:
    field = exc.params.get("field")
    form.add_error(field if field in form.fields else None, describe(exc))


# --- sign-in ---------------------------------------------------------------------------------


def login_view(request: HttpRequest) -> HttpResponse:
    form = forms.LoginForm(request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if user is None:
            form.add_error(None, _("Wrong username or password, or the account is locked."))
        else:
            assert isinstance(user, User)
            login(request, user)
            sessions.start(request)
            if user.language:
                request.session["_language"] = user.language
            if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
                next_url = ""
            request.session["gv_next"] = next_url
            if user.uses_totp:
                # The password alone is half a sign-in: the failure count stands until the
                # code passes, so wrong codes add up whatever the password step did.
                return redirect("web:second-factor")
            identity.register_successful_login(user)
            if user_selectors.totp_requirement(user):
                return redirect("web:second-factor")
            return HttpResponseRedirect(next_url or reverse("web:home"))
    return render(request, "web/login.html", {"form": form, "next": next_url})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:login")


@login_required
def second_factor(request: HttpRequest) -> HttpResponse:
    user = sessions.actor(request)
    if not user.uses_totp:
        return redirect("web:second-factor-enrol")
    form = forms.TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if identity.verify_totp(user=user, code=form.cleaned_data["code"]):
            request.session.cycle_key()
            request.session["gv_second_factor"] = True
            return HttpResponseRedirect(request.session.pop("gv_next", "") or reverse("web:home"))
        if user_selectors.is_locked(user):
            logout(request)
            return redirect("web:login")
        form.add_error("code", _("That code is not valid. Try the next one your app shows."))
    return render(request, "web/second_factor.html", {"form": form})


# Set in the session that passed the password (and current code) check of an enrolment;
# only that session may confirm the pending authenticator.
_ENROLLING = "gv_totp_enrolling"


@login_required
def second_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Set up or replace the user's authenticator; a GET only shows the form."""
    user = sessions.actor(request)
    if user.uses_totp and not request.session.get("gv_second_factor"):
        return redirect("web:second-factor")
    replacing = user.uses_totp
    start_form = forms.TotpEnrolForm(has_device=replacing)
    code_form: forms.TotpCodeForm | None = None
    if request.method == "POST" and request.POST.get("action") == "confirm":
        if not request.session.get(_ENROLLING) or not user.totp_pending_secret:
            return redirect("web:second-factor-enrol")
        code_form = forms.TotpCodeForm(request.POST)
        if code_form.is_valid():
            try:
                identity.confirm_totp(actor=user, code=code_form.cleaned_data["code"])
            except DomainError as exc:
                _form_error(code_form, exc)
            else:
                request.session.pop(_ENROLLING, None)
                request.session["gv_second_factor"] = True
                if replacing:
                    messages.success(request, _("Your new authenticator app is now in use."))
                else:
                    messages.success(request, _("Two-step sign-in is now on for your account."))
                return redirect("web:home")
    elif request.method == "POST":
        start_form = forms.TotpEnrolForm(request.POST, has_device=replacing)
        if start_form.is_valid():
            try:
                identity.start_totp_enrolment(actor=user, **start_form.cleaned_data)
            except AccountLocked:
                logout(request)
                return redirect("web:login")
            except DomainError as exc:
                _form_error(start_form, exc)
            else:
                request.session[_ENROLLING] = True
                code_form = forms.TotpCodeForm()
    context: dict[str, Any] = {
        "required": user_selectors.totp_requirement(user),
        "replacing": replacing,
        "form": start_form,
    }
    if code_form is not None:
        secret = user.totp_pending_secret
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name="gridvend")
        context |= {
            "form": code_form,
            "secret": secret,
            "qr": segno.make(uri, error="m").svg_data_uri(scale=4),
        }
    return render(request, "web/second_factor_enrol.html", context)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    language = request.POST.get("language", "")
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = HttpResponseRedirect(target)
    from django.conf import settings

    if language in {code for code, _name in settings.LANGUAGES}:
        if request.user.is_authenticated:
            identity.set_language(actor=sessions.actor(request), language=language)
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")
    return response


# --- home and the tree ----------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    actor = sessions.actor(request)
    if actor.capability_set() == {Capability.CASHIER}:
        # A cashier's work is the till; the counts of units and users mean nothing to them.
        return redirect("cashier:home")
    units = org_selectors.list_units(actor)
    context = {
        "unit_count": units.count(),
        "point_count": org_selectors.list_vending_points(actor).count(),
        "user_count": user_selectors.list_users(actor).count(),
        "level": org_selectors.level_name(actor.org_unit.depth, org_selectors.level_names()),
    }
    return render(request, "web/home.html", context)


@login_required
def unit_list(request: HttpRequest) -> HttpResponse:
    actor = sessions.actor(request)
    filterset = SearchFilterSet(request.GET, actor=actor, selector=org_selectors.list_units)
    names = org_selectors.level_names()
    rows = [
        (unit, org_selectors.level_name(unit.depth, names), unit.depth - actor.org_unit.depth)
        for unit in filterset.qs[:2000]
    ]
    return render(
        request,
        "web/unit_list.html",
        {
            "rows": rows,
            "q": filterset.echo()["q"],
            "can_manage": permissions.can_manage_tree(actor),
        },
    )


@login_required
def unit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = sessions.actor(request)
    unit = org_selectors.get_unit(actor, pk)
    names = org_selectors.level_names()
    unit_form = forms.OrgUnitForm(prefix="unit")
    rename_form = forms.OrgUnitRenameForm(prefix="rename", initial={"name": unit.name})
    point_form = forms.VendingPointForm(prefix="point")
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add-unit":
                unit_form = forms.OrgUnitForm(request.POST, prefix="unit")
                if unit_form.is_valid():
                    child = org.create_unit(actor=actor, parent=unit, **unit_form.cleaned_data)
                    messages.success(request, _("Unit created."))
                    return redirect("web:unit-detail", pk=child.pk)
            elif action == "rename":
                rename_form = forms.OrgUnitRenameForm(request.POST, prefix="rename")
                if rename_form.is_valid():
                    org.rename_unit(actor=actor, unit=unit, name=rename_form.cleaned_data["name"])
                    messages.success(request, _("Unit renamed."))
                    return redirect("web:unit-detail", pk=unit.pk)
            elif action == "add-point":
                point_form = forms.VendingPointForm(request.POST, prefix="point")
                if point_form.is_valid():
                    point = org.create_vending_point(
                        actor=actor, org_unit=unit, **point_form.cleaned_data
                    )
                    messages.success(request, _("Vending point created."))
                    return redirect("web:point-detail", pk=point.pk)
            else:
                raise AccessDenied()
        except DomainError as exc:
            if isinstance(exc, AccessDenied):
                raise
            target = {"add-unit": unit_form, "rename": rename_form}.get(action or "", point_form)
            _form_error(target, exc)
    context = {
        "unit": unit,
        "level": org_selectors.level_name(unit.depth, names),
        "ancestors": [a for a in org_selectors.list_units(actor) if unit.path.startswith(a.path)],
        "children": org_selectors.list_units(actor).filter(parent=unit),
        "points": org_selectors.list_vending_points(actor).filter(org_unit=unit),
        "users": user_selectors.list_users(actor).filter(org_unit=unit),
        "unit_form": unit_form,
        "rename_form": rename_form,
        "point_form": point_form,
        "can_manage_tree": permissions.can_manage_tree(actor),
        "can_manage_points": permissions.can_manage_vending_points(actor),
    }
    return render(request, "web/unit_detail.html", context)


@login_required
def levels(request: HttpRequest) -> HttpResponse:
    """The utility's names for the depths of its tree (Administrators only)."""
    actor = sessions.actor(request)
    if not actor.is_administrator:
        raise AccessDenied()
    error = ""
    if request.method == "POST":
        try:
            name = clean_text(request.POST.get("name", ""), max_length=80, field="name")
            if request.POST.get("action") == "add":
                org.add_level(actor=actor, name=name)
            else:
                pk = parse_int(request.POST.get("level", ""), minimum=1, maximum=MAX_ID)
                level = org_selectors.get_level(pk)
                org.rename_level(actor=actor, level=level, name=name)
            messages.success(request, _("Level names saved."))
            return redirect("web:levels")
        except DomainError as exc:
            error = describe(exc)
    return render(
        request, "web/levels.html", {"levels": org_selectors.list_levels(), "error": error}
    )


POINTS = ObjectList(
    name="vending-points",
    filterset=VendingPointFilterSet,
    selector=org_selectors.list_vending_points,
    columns=exports.POINT_COLUMNS,
    template="web/point_list.html",
    export_allowed=bo_access.can_export_org,
    context=lambda user: {"channels": Channel.choices},
)
point_list = POINTS.list_view()
point_export = POINTS.export_view()


@login_required
def point_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = sessions.actor(request)
    point = org_selectors.get_vending_point(actor, pk)
    initial = {
        "name": point.name,
        "status": point.status,
        "address": point.address,
        "ip_allow_list": point.ip_allow_list,
    }
    form = forms.VendingPointEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            org.update_vending_point(actor=actor, point=point, **form.cleaned_data)
            messages.success(request, _("Vending point saved."))
            return redirect("web:point-detail", pk=point.pk)
        except DomainError as exc:
            if isinstance(exc, AccessDenied):
                raise
            _form_error(form, exc)
    return render(
        request,
        "web/point_detail.html",
        {
            "point": point,
            "form": form,
            "can_manage": permissions.can_manage_vending_points(actor),
        },
    )


# --- users -----------------------------------------------------------------------------------


def _unit_choices(actor: User) -> list[tuple[int, str]]:
    base = actor.org_unit.depth
    return [
        (u.pk, "— " * (u.depth - base) + u.name) for u in org_selectors.list_units(actor)[:5000]
    ]


USERS = ObjectList(
    name="users",
    filterset=SearchFilterSet,
    selector=user_selectors.list_users,
    columns=exports.USER_COLUMNS,
    template="web/user_list.html",
    export_allowed=bo_access.can_export_org,
    context=lambda user: {"can_manage": permissions.can_manage_users(user)},
)
user_list = USERS.list_view()
user_export = USERS.export_view()


@login_required
def user_create(request: HttpRequest) -> HttpResponse:
    actor = sessions.actor(request)
    if not permissions.can_manage_users(actor):
        raise AccessDenied()
    form = forms.UserForm(request.POST or None, units=_unit_choices(actor), max_rank=actor.rank)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            unit = org_selectors.get_unit(actor, data.pop("org_unit"))
            user = identity.create_user(actor=actor, org_unit=unit, **data)
            messages.success(request, _("User created."))
            return redirect("web:user-detail", pk=user.pk)
        except DomainError as exc:
            if isinstance(exc, AccessDenied):
                raise
            _form_error(form, exc)
    return render(request, "web/user_form.html", {"form": form, "creating": True})


@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = sessions.actor(request)
    target = user_selectors.get_user(actor, pk)
    manageable = permissions.can_manage_users(actor) and target.rank < actor.rank
    initial = {
        "full_name": target.full_name,
        "email": target.email,
        "phone": target.phone,
        "org_unit": target.org_unit_id,
        "role": target.role,
        "capabilities": sorted(target.capability_set()),
        "is_active": target.is_active,
    }
    form = forms.UserEditForm(
        request.POST if request.POST.get("action") == "save" else None,
        initial=initial,
        units=_unit_choices(actor),
        max_rank=actor.rank,
    )
    password_form = forms.PasswordForm(
        request.POST if request.POST.get("action") == "password" else None
    )
    if request.method == "POST":
        if not manageable:
            raise AccessDenied()
        action = request.POST.get("action")
        try:
            if action == "save" and form.is_valid():
                data = form.cleaned_data
                unit = org_selectors.get_unit(actor, data.pop("org_unit"))
                identity.update_user(actor=actor, user=target, org_unit=unit, **data)
                messages.success(request, _("User saved."))
                return redirect("web:user-detail", pk=target.pk)
            if action == "password" and password_form.is_valid():
                identity.reset_password(
                    actor=actor, user=target, password=password_form.cleaned_data["password"]
                )
                messages.success(request, _("Password reset."))
                return redirect("web:user-detail", pk=target.pk)
            if action == "unlock":
                identity.unlock_user(actor=actor, user=target)
                messages.success(request, _("Account unlocked."))
                return redirect("web:user-detail", pk=target.pk)
            if action == "reset-totp":
                identity.reset_totp(actor=actor, user=target)
                messages.success(request, _("Two-step sign-in reset."))
                return redirect("web:user-detail", pk=target.pk)
        except DomainError as exc:
            if isinstance(exc, AccessDenied):
                raise
            _form_error(password_form if action == "password" else form, exc)
    return render(
        request,
        "web/user_detail.html",
        {
            "target": target,
            "form": form,
            "password_form": password_form,
            "manageable": manageable,
            "locked": user_selectors.is_locked(target),
        },
    )


# --- operation log ---------------------------------------------------------------------------


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    actor = sessions.actor(request)
    if not permissions.can_read_audit_log(actor):
        raise AccessDenied()
    filterset = AuditFilterSet(request.GET, actor=actor, selector=audit_selectors.list_events)
    status = 200
    try:
        events = filterset.qs.select_related(None)
    except InvalidFilter:
        # The form shows what is wrong beside the field; the list stays empty.
        events = audit_selectors.list_events(actor).none()
        status = 400
    form = filterset.form
    # Millions of rows: paged by id (the order events were written in), counted only when a
    # filter narrows them, and then only up to COUNT_CAP.
    page = Keyset("audit", ("-id",)).page(events, request.GET.get(CURSOR) or None)
    filtered = any(str(value).strip() for value in filterset.echo().values())
    page.count = row_count(events, user=actor, filtered=filtered or status != 200)
    return render(
        request,
        "web/audit_log.html",
        {
            "form": form,
            "page": page,
            "query": query_without_page(request),
        },
        status=status,
    )
