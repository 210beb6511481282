"""Back-office screens of the field agents' cash in transit: the agents in scope with the cash
they hold and their limit, one agent's open cash by day with the office's hand-in (count,
difference) and the limit, and the daily reconciliation's results. Writes go through
``terminals.services.cash``, which checks the actor again."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.terminals import permissions, selectors
from gridvend.terminals.services import cash
from gridvend.web.backoffice import access
from gridvend.web.fields import MoneyField, TextField
from gridvend.web.lists import page_of, query_without_page
from gridvend.web.sessions import actor


class HandInForm(forms.Form):
    counted = MoneyField(label=gettext_lazy("Cash counted"), maximum_setting="MAX_CASH_COUNT")
    expected_minor = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=10**14)
    request_key = forms.RegexField(
        regex=r"^[A-Za-z0-9-]{8,40}$", widget=forms.HiddenInput, max_length=40
    )
    note = TextField(label=gettext_lazy("Note"), max_length=200, required=False)


class CashLimitForm(forms.Form):
    limit = MoneyField(label=gettext_lazy("Cash limit"), maximum_setting="MAX_FLOAT_AMOUNT")


def _money(value: Any) -> Money:
    return Money.from_major(str(value), settings.CURRENCY)


@login_required
def agent_cash_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_agent_cash(user))
    rows = page_of(request, selectors.list_agent_cash(user))
    context = {"page": rows, "query": query_without_page(request)}
    return render(request, "backoffice/agent_cash_list.html", context)


def _hand_in(request: HttpRequest, user: User, agent: User, form: HandInForm) -> bool:
    data = form.cleaned_data
    try:
        hand_in = cash.hand_in_cash(
            actor=user,
            agent=agent,
            counted=_money(data["counted"]),
            expected_minor=data["expected_minor"],
            request_key=data["request_key"],
            note=data.get("note") or "",
        )
    except DomainError as exc:
        form.add_error(None, exc.message)
        return False
    difference = Money(hand_in.difference_minor, hand_in.currency)
    messages.success(
        request,
        _("Cash handed in: %(counted)s counted, difference %(difference)s.")
        % {"counted": Money(hand_in.counted_minor, hand_in.currency), "difference": difference},
    )
    return True


def _set_limit(request: HttpRequest, user: User, agent: User, form: CashLimitForm) -> bool:
    try:
        cash.set_cash_limit(actor=user, agent=agent, limit=_money(form.cleaned_data["limit"]))
    except DomainError as exc:
        form.add_error(None, exc.message)
        return False
    messages.success(request, _("The cash limit was changed."))
    return True


@login_required
def agent_cash_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_agent_cash(user))
    agent = selectors.get_field_agent(user, pk)
    position = cash.cash_position(agent)
    action = request.POST.get("action") if request.method == "POST" else None
    hand_in_form = HandInForm(
        request.POST if action == "hand_in" else None,
        initial={"expected_minor": position.held_minor, "request_key": secrets.token_hex(16)},
    )
    limit_form = CashLimitForm(
        request.POST if action == "limit" else None,
        initial={"limit": Money(position.limit_minor, position.currency).to_major()},
    )
    status = 200
    if request.method == "POST":
        if action == "hand_in":
            access.require(permissions.can_handle_agent_cash(user))
            if hand_in_form.is_valid() and _hand_in(request, user, agent, hand_in_form):
                return redirect("backoffice:agent-cash", pk=agent.pk)
        elif action == "limit":
            access.require(permissions.can_manage_terminals(user))
            if limit_form.is_valid() and _set_limit(request, user, agent, limit_form):
                return redirect("backoffice:agent-cash", pk=agent.pk)
        status = 400
    context = {
        "agent": agent,
        "position": position,
        "held": Money(position.held_minor, position.currency),
        "limit": Money(position.limit_minor, position.currency),
        "room": Money(position.room_minor, position.currency),
        "days": cash.open_cash_days(agent),
        "day_ends": selectors.open_day_ends(user, agent),
        "hand_ins": selectors.recent_hand_ins(user, agent)[:20],
        "hand_in_form": hand_in_form,
        "limit_form": limit_form,
        "can_hand_in": permissions.can_handle_agent_cash(user),
        "can_set_limit": permissions.can_manage_terminals(user),
        "currency": position.currency,
    }
    return render(request, "backoffice/agent_cash.html", context, status=status)


@login_required
def cash_reconciliations(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_agent_cash(user))
    only_differences = request.GET.get("differences") == "1"
    found = selectors.list_cash_reconciliations(user, only_differences=only_differences)
    context = {
        "page": page_of(request, found),
        "query": query_without_page(request),
        "only_differences": only_differences,
    }
    return render(request, "backoffice/cash_reconciliations.html", context)
