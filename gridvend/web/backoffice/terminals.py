"""Back-office screens of the handheld terminals: the list (status, agent, last contact, app
version), registration (the one-time code shown once), a terminal's page (assignment, suspend,
reinstate, revoke, a new key by re-enrolment, its recent connections) and its raw messages
(auditors only). Every write goes through ``terminals.services.setup``, which checks the actor
again."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from gridvend.identity import selectors as identity_selectors
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.org import selectors as org_selectors
from gridvend.org.models import Channel
from gridvend.terminals import permissions, selectors
from gridvend.terminals.errors import AgentPinInvalid
from gridvend.terminals.models import Terminal
from gridvend.terminals.services import agents as agent_services
from gridvend.terminals.services import setup
from gridvend.web.backoffice import access
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.banklink import _hex_lines
from gridvend.web.backoffice.common import form_page, unit_choices
from gridvend.web.backoffice.filtersets import TerminalFilterSet
from gridvend.web.lists import page_of, query_without_page
from gridvend.web.sessions import actor

MAX_CHOICES = 500
RECENT_SESSIONS = 20
MESSAGES_PER_PAGE_BYTES = 4096  # of each message shown on the list, as hex


@login_required
def terminal_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_terminals(user))
    filterset = TerminalFilterSet(request.GET, actor=user, selector=selectors.list_terminals)
    context = {
        "filters": filterset.form,
        "echo": filterset.echo(),
        "page": page_of(request, filterset.qs),
        "query": query_without_page(request),
        "can_manage": permissions.can_manage_terminals(user),
    }
    return render(request, "backoffice/terminals.html", context)


def _show_code(request: HttpRequest, terminal: Terminal, code: str) -> HttpResponse:
    """The one-time code, on this page only: it is never shown again."""
    return render(request, "backoffice/terminal_code.html", {"terminal": terminal, "code": code})


@login_required
def terminal_register(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_manage_terminals(user))
    form = bo_forms.TerminalRegisterForm(request.POST or None, units=unit_choices(user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            terminal, code = setup.register_terminal(
                actor=user,
                terminal_id=data["terminal_id"],
                org_unit=org_selectors.get_unit(user, data["org_unit"]),
                cipher=data["cipher"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return _show_code(request, terminal, code)
    # A refused form is drawn again with its error, as form_page does.
    context = {
        "form": form,
        "title": _("New handheld terminal"),
        "intro": _(
            "The terminal enrols with the one-time code shown next, from the device that will "
            "keep it: its serial number, SIM (IMSI) and IMEI are bound to it then."
        ),
    }
    return render(request, "backoffice/form_page.html", context)


@login_required
def terminal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_terminals(user))
    terminal = selectors.get_terminal(user, pk)
    form = bo_forms.TerminalActionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        access.require(permissions.can_manage_terminals(user))
        if form.is_valid():
            try:
                code = _act(user, terminal, form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                if code is not None:
                    return _show_code(request, terminal, code)
                messages.success(request, _("The terminal was changed."))
                return redirect("backoffice:terminal", pk=terminal.pk)
        else:
            status = 400
    context = {
        "terminal": terminal,
        "form": form,
        "sessions": list(selectors.recent_sessions(user, terminal)[:RECENT_SESSIONS]),
        "can_manage": permissions.can_manage_terminals(user),
        "can_read_raw": permissions.can_read_raw_messages(user),
    }
    return render(request, "backoffice/terminal.html", context, status=status)


def _act(user: User, terminal: Terminal, data: dict[str, Any]) -> str | None:
    action, reason = data["action"], data.get("reason") or ""
    if action == "rotate":
        return setup.rotate_key(actor=user, terminal=terminal)[1]
    change = {
        "suspend": setup.suspend_terminal,
        "reinstate": setup.reinstate_terminal,
        "revoke": setup.revoke_terminal,
    }[action]
    change(actor=user, terminal=terminal, reason=reason)
    return None


@login_required
def terminal_assign(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_manage_terminals(user))
    terminal = selectors.get_terminal(user, pk)
    agent_choices = [
        (p.pk, f"{p.full_name} ({p.username})")
        for p in identity_selectors.list_users(user)[:MAX_CHOICES]
        if permissions.can_work_in_field(p)
    ]
    points = [
        (p.pk, f"{p.name} ({p.code})")
        for p in org_selectors.list_vending_points(user, channel=Channel.HANDHELD)[:MAX_CHOICES]
    ]
    form = bo_forms.TerminalAssignForm(
        request.POST or None,
        initial={
            "org_unit": terminal.org_unit_id,
            "agent": terminal.agent_id,
            "vending_point": terminal.vending_point_id,
        },
        units=unit_choices(user),
        agent_choices=agent_choices,
        points=points,
    )

    def save(data: dict[str, Any]) -> str:
        agent = identity_selectors.get_user(user, data["agent"]) if data["agent"] else None
        if data.get("pin"):
            if agent is None:
                raise AgentPinInvalid()
            # Checked before the assignment, so a refused PIN changes nothing.
            agent_services.check_pin(data["pin"])
        setup.assign_terminal(
            actor=user,
            terminal=terminal,
            org_unit=org_selectors.get_unit(user, data["org_unit"]),
            agent=agent,
            vending_point=(
                org_selectors.get_vending_point(user, data["vending_point"])
                if data["vending_point"]
                else None
            ),
        )
        if agent is not None and data.get("pin"):
            agent_services.set_agent_pin(actor=user, agent=agent, pin=data["pin"])
        return reverse("backoffice:terminal", kwargs={"pk": terminal.pk})

    return form_page(
        request,
        form,
        title=_("Assign terminal %(terminal)s") % {"terminal": terminal.terminal_id},
        save=save,
        saved=_("The terminal was assigned."),
    )


@login_required
def terminal_messages(request: HttpRequest, pk: int) -> HttpResponse:
    """The terminal's messages on the wire and decrypted, newest first (auditors only)."""
    user = actor(request)
    access.require(permissions.can_read_raw_messages(user))
    terminal = selectors.get_terminal(user, pk)
    page = page_of(request, selectors.list_raw_messages(user, terminal))
    rows = [
        {
            "message": m,
            "hex": _hex_lines(bytes(m.content)[:MESSAGES_PER_PAGE_BYTES]),
            "cut": m.byte_count > MESSAGES_PER_PAGE_BYTES,
        }
        for m in page
    ]
    context = {"terminal": terminal, "page": page, "rows": rows, "query": ""}
    return render(request, "backoffice/terminal_messages.html", context)
