"""The cashier screen: open a shift, find the meter, confirm the customer, quote, sell, receipt,
close the shift. Built for a keyboard and a barcode scanner; every step also works without JS."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.customers.selectors import list_customers
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.meters.models import Meter
from gridvend.meters.selectors import normalise_meter_number
from gridvend.org.models import VendingPointStatus
from gridvend.org.selectors import list_vending_points
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.selectors import confirm_meter, get_sale
from gridvend.web.cashier import forms
from gridvend.web.errors import describe
from gridvend.web.receipts.render import build_shift_report

SEARCH_LIMIT = 20


def _cashier(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not user.has_capability(Capability.CASHIER):
        raise AccessDenied()
    return user


def _partial(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _shift_or_redirect(actor: User) -> shifts.Shift | None:
    return shifts.current_shift(actor)


def _render(
    request: HttpRequest, template: str, partial: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Full page for a plain request, only the panel for htmx."""
    if _partial(request):
        return render(request, partial, context, status=status)
    return render(request, template, {**context, "panel": partial}, status=status)


def _shift_points(actor: User) -> list[tuple[int, str]]:
    return [
        (p.pk, f"{p.name} ({p.code})")
        for p in list_vending_points(actor)
        if p.status == VendingPointStatus.ACTIVE and p.channel in shifts.SHIFT_CHANNELS
    ]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    actor = _cashier(request)
    shift = shifts.current_shift(actor)
    if shift is not None:
        return render(
            request,
            "cashier/sell.html",
            {"shift": shift, "search_form": forms.SearchForm(), "panel": None},
        )
    form = forms.OpenShiftForm(request.POST or None)
    form.fields["vending_point"].choices = _shift_points(actor)  # type: ignore[attr-defined]
    if request.method == "POST" and form.is_valid():
        try:
            point = next(
                p for p in list_vending_points(actor) if p.pk == form.cleaned_data["vending_point"]
            )
            shifts.open_shift(
                actor=actor,
                vending_point=point,
                opening_float=Money.from_major(
                    form.cleaned_data["opening_float"], settings.CURRENCY
                ),
            )
            return redirect("cashier:home")
        except StopIteration:
            form.add_error("vending_point", _("Choose a vending point."))
        except DomainError as exc:
            form.add_error(None, describe(exc))
    return render(request, "cashier/open_shift.html", {"form": form})


@login_required
def search(request: HttpRequest) -> HttpResponse:
    actor = _cashier(request)
    shift = shifts.current_shift(actor)
    if shift is None:
        return redirect("cashier:home")
    form = forms.SearchForm(request.GET or None)
    context: dict[str, Any] = {"shift": shift, "search_form": form, "results": [], "error": ""}
    if form.is_valid():
        text = form.cleaned_data["q"].strip()
        digits = normalise_meter_number(text)
        if digits.isdigit() and len(digits) in (11, 13):
            # A scanned or typed meter number goes straight to the confirmation.
            return _confirm(request, actor, shift, digits)
        customers = list(list_customers(actor, search=text)[:SEARCH_LIMIT])
        context["results"] = customers
        if not customers:
            context["error"] = _("Nothing found for %(q)s.") % {"q": text}
    return _render(request, "cashier/sell.html", "cashier/_results.html", context)


def _confirm(
    request: HttpRequest,
    actor: User,
    shift: shifts.Shift,
    number: str,
    form: forms.AmountForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    try:
        confirmation = confirm_meter(actor, number)
    except DomainError as exc:
        return _render(
            request,
            "cashier/sell.html",
            "cashier/_error.html",
            {"shift": shift, "search_form": forms.SearchForm(), "error": describe(exc)},
            status=404 if exc.code in ("METER_NOT_FOUND", "NOT_FOUND") else 200,
        )
    context = {
        "shift": shift,
        "search_form": forms.SearchForm(initial={"q": number}),
        "c": confirmation,
        "form": form or forms.AmountForm(),
        "error": error,
    }
    return _render(request, "cashier/sell.html", "cashier/_confirm.html", context, status=status)


@login_required
def meter(request: HttpRequest, number: str) -> HttpResponse:
    actor = _cashier(request)
    shift = shifts.current_shift(actor)
    if shift is None:
        return redirect("cashier:home")
    return _confirm(request, actor, shift, number)


def _amounts(form: forms.AmountForm, meter_obj: Meter) -> tuple[Money | None, Decimal | None]:
    currency = (
        meter_obj.customer.tariff.currency if meter_obj.customer is not None else settings.CURRENCY
    )
    value: Decimal = form.cleaned_data["amount"]
    if form.cleaned_data["mode"] == "energy":
        return None, value
    return Money.from_major(value, currency), None


@login_required
@require_POST
def quote(request: HttpRequest, number: str) -> HttpResponse:
    actor = _cashier(request)
    shift = shifts.current_shift(actor)
    if shift is None:
        return redirect("cashier:home")
    form = forms.AmountForm(request.POST)
    if not form.is_valid():
        return _confirm(request, actor, shift, number, form=form, status=400)
    try:
        confirmation = confirm_meter(actor, number)
        tender, kwh = _amounts(form, confirmation.meter)
        q = vending.trial_vend(actor=actor, meter_number=number, tender=tender, kwh=kwh)
    except DomainError as exc:
        return _confirm(request, actor, shift, number, form=form, error=describe(exc))
    sell_form = forms.SellForm(
        initial={
            "mode": form.cleaned_data["mode"],
            "amount": form.cleaned_data["amount"],
            "payment_method": form.cleaned_data["payment_method"],
            # One reference per quote: pressing Sell twice (or the browser resending) sells once.
            "client_reference": f"cashier-{uuid.uuid4().hex}",
        }
    )
    context = {
        "shift": shift,
        "search_form": forms.SearchForm(initial={"q": number}),
        "c": confirmation,
        "quote": q,
        "b": q.breakdown,
        "sell_form": sell_form,
        "payment_label": dict(forms.PAYMENT_CHOICES)[form.cleaned_data["payment_method"]],
    }
    return _render(request, "cashier/sell.html", "cashier/_quote.html", context)


@login_required
@require_POST
def sell(request: HttpRequest, number: str) -> HttpResponse:
    actor = _cashier(request)
    shift = shifts.current_shift(actor)
    if shift is None:
        return redirect("cashier:home")
    form = forms.SellForm(request.POST)
    if not form.is_valid():
        return _confirm(request, actor, shift, number, form=form, status=400)
    try:
        confirmation = confirm_meter(actor, number)
        tender, kwh = _amounts(form, confirmation.meter)
        result = vending.vend_credit(
            actor=actor,
            vending_point=shift.vending_point,
            client_reference=form.cleaned_data["client_reference"],
            meter_number=number,
            tender=tender,
            kwh=kwh,
            payment_method=form.cleaned_data["payment_method"],
        )
    except DomainError as exc:
        return _confirm(request, actor, shift, number, form=form, error=describe(exc))
    target = reverse("cashier:sale", args=[result.sale.reference])
    if _partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@login_required
def sale(request: HttpRequest, reference: str) -> HttpResponse:
    actor = _cashier(request)
    sold = get_sale(actor, reference)
    tokens = list(sold.tokens.order_by("sequence"))
    links: dict[str, str] = {}
    try:
        from gridvend.web.receipts.render import receipt_urls

        links = receipt_urls(sold)
    except ImportError:
        links = {}
    return render(
        request,
        "cashier/sale.html",
        {"sale": sold, "tokens": tokens, "links": links, "shift": shifts.current_shift(actor)},
    )


@login_required
def shift_view(request: HttpRequest) -> HttpResponse:
    actor = _cashier(request)
    shift = shifts.current_shift(actor)
    if shift is None:
        return redirect("cashier:home")
    form = forms.CloseShiftForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            counted = {
                method: Money.from_major(value, shift.currency)
                for method, value in form.counted().items()
            }
            closed = shifts.close_shift(
                actor=actor, shift=shift, counted=counted, note=form.cleaned_data["note"]
            )
            return redirect("cashier:closed", pk=closed.pk)
        except DomainError as exc:
            form.add_error(None, describe(exc))
    z = build_shift_report(
        shifts.z_report(actor, shift), blind=shifts.expected_hidden(actor, shift)
    )
    return render(request, "cashier/shift.html", {"shift": shift, "z": z, "form": form})


@login_required
def closed(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _cashier(request)
    from gridvend.identity.scoping import get_scoped
    from gridvend.vending.models import Shift

    shift = get_scoped(
        Shift.objects.select_related("vending_point", "vending_point__org_unit", "operator"),
        actor,
        path="vending_point__org_unit__path",
        pk=pk,
    )
    z = build_shift_report(
        shifts.z_report(actor, shift), blind=shifts.expected_hidden(actor, shift)
    )
    return render(request, "cashier/closed.html", {"shift": shift, "z": z})
