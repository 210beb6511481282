"""The cashier screen: open a shift, find the meter, confirm the customer, quote, sell, receipt,
close the shift. Built for a keyboard and a barcode scanner; every step also works without JS.

Every URL that answers htmx with a panel answers a whole page to a plain request (a reload, the
Back button, a bookmark); its responses vary on ``HX-Request`` and are never stored, so the
browser never shows a panel without its page or a till as it was before the last sale."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gridvend.customers.search import METER_LENGTHS, ascii_digits, read_search
from gridvend.customers.selectors import list_customers
from gridvend.identity import selectors as user_selectors
from gridvend.identity import services as identity
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.kernel.errors import DomainError, MeterNotFound
from gridvend.kernel.money import Money
from gridvend.meters.models import Meter
from gridvend.meters.selectors import find_meter, normalise_meter_number
from gridvend.mobilemoney import selectors as mobile_selectors
from gridvend.mobilemoney import services as mobile
from gridvend.mobilemoney.models import MobileProvider, StkState
from gridvend.org.models import VendingPointStatus
from gridvend.org.selectors import list_vending_points
from gridvend.reports import shifts as shift_reports
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import Shift
from gridvend.vending.selectors import (
    confirm_meter,
    get_sale,
    own_vending_point,
    recent_sales_of_meter,
)
from gridvend.vending.visibility import is_seller
from gridvend.web import sessions
from gridvend.web.caching import no_store
from gridvend.web.cashier import forms
from gridvend.web.errors import describe
from gridvend.web.receipts.render import build_shift_report, receipt_urls
from gridvend.web.receipts.views import escpos_printer
from gridvend.web.search import too_short_message

SEARCH_LIMIT = 20


def _cashier(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not user.has_capability(Capability.CASHIER):
        raise AccessDenied()
    return user


def _partial(request: HttpRequest) -> bool:
    # htmx asks for the whole page when it restores history it did not keep.
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


View = Callable[..., HttpResponse]


def till(view: View) -> View:
    """Every cashier view: signed in, the cashier capability, the screen not locked. The
    session is marked as a till's (the idle lock applies to it from now on)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if sessions.is_locked(request):
            # The middleware stops a locked session first; this holds even without it.
            return redirect("cashier:unlock")
        _cashier(request)
        sessions.mark_till(request)
        response = view(request, *args, **kwargs)
        patch_vary_headers(response, ("HX-Request",))
        add_never_cache_headers(response)
        return response

    return login_required(guarded)


def on_shift(view: View) -> View:
    """A till view that works in the cashier's open shift; without one, back to the home screen.

    The view is called with the cashier and their shift after the request.
    """

    @wraps(view)
    def in_shift(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        actor = _cashier(request)
        shift = shifts.current_shift(actor)
        if shift is None:
            return redirect("cashier:home")
        return view(request, actor, shift, *args, **kwargs)

    return in_shift


def _render(
    request: HttpRequest, template: str, partial: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Full page for a plain request, only the panel for htmx."""
    if _partial(request):
        return render(request, partial, context, status=status)
    return render(request, template, {**context, "panel": partial}, status=status)


def _shift_points(actor: User) -> tuple[list[tuple[int, str]], int | None]:
    """The points a shift may open at, and the user's own among them (None: the user chooses)."""
    points = [
        p
        for p in list_vending_points(actor)
        if p.status == VendingPointStatus.ACTIVE and p.channel in shifts.SHIFT_CHANNELS
    ]
    return [(p.pk, f"{p.name} ({p.code})") for p in points], own_vending_point(actor, points)


@till
def home(request: HttpRequest) -> HttpResponse:
    actor = _cashier(request)
    shift = shifts.current_shift(actor)
    if shift is not None:
        return render(
            request,
            "cashier/sell.html",
            {"shift": shift, "search_form": forms.CustomerSearchForm(), "panel": None},
        )
    points, own = _shift_points(actor)
    form = forms.ShiftOpenForm(request.POST or None, points=points, own=own)
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


@till
@on_shift
def search(request: HttpRequest, actor: User, shift: Shift) -> HttpResponse:
    form = forms.CustomerSearchForm(request.GET or None)
    context: dict[str, Any] = {"shift": shift, "search_form": form, "results": [], "error": ""}
    if form.is_valid():
        text = form.cleaned_data["q"].strip()
        digits = ascii_digits(normalise_meter_number(text))
        meter_like = digits.isascii() and digits.isdigit() and len(digits) in METER_LENGTHS
        if meter_like and _sells_meter(actor, digits):
            # A scanned or typed meter number goes straight to the confirmation.
            return _confirm(request, actor, shift, digits)
        if read_search(text).too_short:
            context["error"] = too_short_message()
            return _render(request, "cashier/sell.html", "cashier/_results.html", context)
        # One more than shown, to know whether more match without counting them.
        customers = list(list_customers(actor, search=text)[: SEARCH_LIMIT + 1])
        if meter_like and not customers:
            # No meter and no customer: the confirmation says the meter is not found.
            return _confirm(request, actor, shift, digits)
        context["results"] = customers[:SEARCH_LIMIT]
        context["more_match"] = len(customers) > SEARCH_LIMIT
        if not customers:
            context["error"] = _("Nothing found for %(q)s.") % {"q": text}
    return _render(request, "cashier/sell.html", "cashier/_results.html", context)


def _sells_meter(actor: User, digits: str) -> bool:
    """Whether the number is a meter of the cashier's units (else the same digits may be a
    customer's account or local phone number, which are searched instead)."""
    try:
        find_meter(actor, digits)
    except MeterNotFound:
        return False
    return True


def _confirm(
    request: HttpRequest,
    actor: User,
    shift: Shift,
    number: str,
    form: forms.SaleAmountForm | None = None,
    error: str = "",
    status: int = 200,
    stk_form: forms.StkPushForm | None = None,
) -> HttpResponse:
    try:
        confirmation = confirm_meter(actor, number)
    except DomainError as exc:
        return _render(
            request,
            "cashier/sell.html",
            "cashier/_error.html",
            {"shift": shift, "search_form": forms.CustomerSearchForm(), "error": describe(exc)},
            status=404 if exc.code in ("METER_NOT_FOUND", "NOT_FOUND") else 200,
        )
    refusal = vending.sale_refusal(confirmation.meter)
    paybills = _paybills(actor)
    customer = confirmation.meter.customer
    context = {
        "shift": shift,
        "search_form": forms.CustomerSearchForm(initial={"q": number}),
        "c": confirmation,
        "form": form or forms.SaleAmountForm(),
        "stk_form": stk_form
        or (
            forms.StkPushForm(
                paybills=paybills,
                initial={
                    "client_reference": f"cashier-stk-{uuid.uuid4().hex}",
                    "phone": customer.phone if customer is not None else "",
                },
            )
            if paybills
            else None
        ),
        "error": error,
        # A meter that cannot be sold (blocked, faulty...) gets the reason, not an amount form.
        "refusal": describe(refusal) if refusal is not None else "",
    }
    return _render(request, "cashier/sell.html", "cashier/_confirm.html", context, status=status)


@till
@on_shift
def meter(request: HttpRequest, actor: User, shift: Shift, number: str) -> HttpResponse:
    return _confirm(request, actor, shift, number)


def _currency(meter_obj: Meter) -> str:
    customer = meter_obj.customer
    return customer.tariff.currency if customer is not None else settings.CURRENCY


def _amounts(form: forms.SaleAmountForm, meter_obj: Meter) -> tuple[Money | None, Decimal | None]:
    value: Decimal = form.cleaned_data["amount"]
    if form.cleaned_data["mode"] == "energy":
        return None, value
    return Money.from_major(value, _currency(meter_obj)), None


def _quote(
    request: HttpRequest,
    actor: User,
    shift: Shift,
    number: str,
    form: forms.SaleAmountForm,
    sell_form: forms.SaleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The breakdown of a valid amount and the form that sells it (new, or sent back with its
    errors and the same client reference)."""
    try:
        confirmation = confirm_meter(actor, number)
        tender, kwh = _amounts(form, confirmation.meter)
        q = vending.trial_vend(actor=actor, meter_number=number, tender=tender, kwh=kwh)
    except DomainError as exc:
        return _confirm(request, actor, shift, number, form=form, error=describe(exc))
    method = form.cleaned_data["payment_method"]
    if sell_form is None:
        sell_form = forms.SaleForm(
            initial={
                "mode": form.cleaned_data["mode"],
                "amount": form.cleaned_data["amount"],
                "payment_method": method,
                # One reference per quote: pressing Sell twice (or the browser resending) sells
                # once.
                "client_reference": f"cashier-{uuid.uuid4().hex}",
            }
        )
    coin = int(settings.SMALLEST_COIN_MINOR)
    context = {
        "shift": shift,
        "search_form": forms.CustomerSearchForm(initial={"q": number}),
        "c": confirmation,
        "quote": q,
        "b": q.breakdown,
        "sell_form": sell_form,
        "is_cash": method == "cash",
        "payment_label": dict(forms.PAYMENT_CHOICES)[method],
        "coin": Money(coin, q.breakdown.currency)
        if coin > 1 and form.cleaned_data["mode"] == "energy"
        else None,
    }
    return _render(request, "cashier/sell.html", "cashier/_quote.html", context, status=status)


@till
@require_POST
@on_shift
def quote(request: HttpRequest, actor: User, shift: Shift, number: str) -> HttpResponse:
    form = forms.SaleAmountForm(request.POST)
    if not form.is_valid():
        return _confirm(request, actor, shift, number, form=form, status=400)
    return _quote(request, actor, shift, number, form)


@till
@require_POST
@on_shift
def sell(request: HttpRequest, actor: User, shift: Shift, number: str) -> HttpResponse:
    form = forms.SaleForm(request.POST)
    if not form.is_valid():
        amounts = forms.SaleAmountForm(request.POST)
        if amounts.is_valid():
            # Only what the cashier typed at the payment step is wrong: the same breakdown again.
            return _quote(request, actor, shift, number, amounts, sell_form=form, status=400)
        return _confirm(request, actor, shift, number, form=amounts, status=400)
    data = form.cleaned_data
    try:
        confirmation = confirm_meter(actor, number)
        tender, kwh = _amounts(form, confirmation.meter)
        currency = tender.currency if tender is not None else _currency(confirmation.meter)
        received = data["cash_received"]
        result = vending.vend_credit(
            actor=actor,
            vending_point=shift.vending_point,
            client_reference=data["client_reference"],
            meter_number=number,
            tender=tender,
            kwh=kwh,
            payment_method=data["payment_method"],
            payment_reference=data["payment_reference"] or None,
            cash_received=Money.from_major(received, currency) if received is not None else None,
            quoted_tender=(
                Money(data["quoted_minor"], currency) if data["quoted_minor"] is not None else None
            ),
            quoted_kwh=data["quoted_kwh"],
        )
    except DomainError as exc:
        if exc.params.get("field") in form.fields:
            form.add_error(exc.params["field"], describe(exc))
            return _quote(request, actor, shift, number, form, sell_form=form, status=400)
        return _confirm(request, actor, shift, number, form=form, error=describe(exc))
    target = reverse("cashier:sale", args=[result.sale.reference])
    if _partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def _paybills(actor: User) -> list[tuple[int, str]]:
    return [(p.pk, f"{p.name} ({p.shortcode})") for p in mobile_selectors.stk_paybills(actor)[:20]]


@till
@require_POST
@on_shift
def stk_push(request: HttpRequest, actor: User, shift: Shift, number: str) -> HttpResponse:
    """Prompt the customer's phone to pay for this meter (M-Pesa STK push) instead of taking
    cash. The sale is the paybill's (from the aggregator partner's float, when the phone pays):
    nothing enters the cashier's drawer. Asked twice with the same form, the phone is prompted
    once."""
    paybills = _paybills(actor)
    form = forms.StkPushForm(request.POST, paybills=paybills)
    if not form.is_valid():
        return _confirm(request, actor, shift, number, stk_form=form, status=400)
    data = form.cleaned_data
    try:
        confirmation = confirm_meter(actor, number)
        provider = mobile_selectors.stk_paybills(actor).get(pk=data["paybill"])
        push = mobile.request_stk_push(
            actor=actor,
            provider=provider,
            phone=data["phone"],
            meter_number=confirmation.meter.number,
            amount=Money.from_major(data["amount"], _currency(confirmation.meter)),
            channel="cashier",
            client_reference=data["client_reference"],
        )
    except MobileProvider.DoesNotExist:
        form.add_error("paybill", _("Choose a paybill."))
        return _confirm(request, actor, shift, number, stk_form=form, status=400)
    except DomainError as exc:
        if exc.code == "MOBILE_PHONE_INVALID":
            form.add_error("phone", describe(exc))
            return _confirm(request, actor, shift, number, stk_form=form, status=400)
        return _confirm(request, actor, shift, number, stk_form=form, error=describe(exc))
    target = reverse("cashier:stk", args=[push.pk])
    if _partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


# How the screen names a push's state, and whether it is still worth asking again.
STK_WAITING = StkState.REQUESTED


@no_store
@till
def stk_status(request: HttpRequest, pk: int) -> HttpResponse:
    """A push the cashier asked for: waiting (the page asks again every few seconds), paid
    (on to the sale, whose token prints as any sale's), or how it ended."""
    actor = _cashier(request)
    push = mobile_selectors.get_own_push(actor, pk)
    sale_ref = push.payment.sale.reference if push.payment and push.payment.sale else ""
    if sale_ref and _partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("cashier:sale", args=[sale_ref])
        return response
    context = {
        "push": push,
        "waiting": push.state == STK_WAITING,
        "sale_reference": sale_ref,
        "in_suspense": push.payment is not None and push.payment.sale is None,
        "amount": Money(push.amount_minor, push.currency),
        "shift": shifts.current_shift(actor),
    }
    return _render(request, "cashier/stk.html", "cashier/_stk.html", context)


@no_store
@till
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
    change = sold.change_minor
    return render(
        request,
        "cashier/sale.html",
        {
            "sale": sold,
            "tokens": tokens,
            "links": links,
            "shift": shifts.current_shift(actor),
            "cash_received": Money(sold.cash_received_minor, sold.currency)
            if sold.cash_received_minor is not None
            else None,
            "change": Money(change, sold.currency) if change is not None else None,
            "escpos": escpos_printer(actor, sold) is not None,
        },
    )


@no_store
@till
def reprint(request: HttpRequest) -> HttpResponse:
    """Reprint by meter number: the meter's recent sales in the cashier's scope, each with its
    receipt. Printing goes through the receipt's own rules (print_receipt): the seller's print
    is a REPRINT, anyone else's a COPY, with the digits masked unless they may see tokens."""
    actor = _cashier(request)
    form = forms.SaleReprintForm(request.GET or None)
    rows: list[dict[str, Any]] = []
    searched = False
    if form.is_valid():
        searched = True
        for sold in recent_sales_of_meter(actor, form.cleaned_data["meter"]):
            rows.append(
                {
                    "sale": sold,
                    "own": is_seller(actor, sold),
                    "thermal": receipt_urls(sold)["thermal"] + "?reprint=1",
                    "tender": Money(sold.tender_minor, sold.currency),
                }
            )
    return render(
        request,
        "cashier/reprint.html",
        {
            "form": form,
            "rows": rows,
            "searched": searched,
            "shift": shifts.current_shift(actor),
            "escpos": escpos_printer(actor) is not None,
        },
    )


@till
@on_shift
def shift_view(request: HttpRequest, actor: User, shift: Shift) -> HttpResponse:
    form = forms.ShiftCloseForm(request.POST or None)
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
        shift_reports.z_report(actor, shift), blind=shifts.expected_hidden(actor, shift)
    )
    return render(request, "cashier/shift.html", {"shift": shift, "z": z, "form": form})


@till
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
        shift_reports.z_report(actor, shift), blind=shifts.expected_hidden(actor, shift)
    )
    return render(request, "cashier/closed.html", {"shift": shift, "z": z})


# --- the screen lock ------------------------------------------------------------------------


def _back_to(request: HttpRequest, value: str) -> str:
    """``value`` if it is a page of this site to return to after the unlock, else ''. Only a
    plain local path of sensible length: the unlock page carries it in its own URL."""
    if (
        not value.startswith("/")
        or len(value) > 2000
        or not value.isprintable()
        or not url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return ""
    return value


def _unlock_url(back: str = "") -> str:
    """The unlock page, returning to ``back`` (a checked local page) once unlocked."""
    target = reverse("cashier:unlock")
    return f"{target}?{urlencode({'next': back})}" if back else target


@never_cache
@login_required
@require_POST
def lock(request: HttpRequest) -> HttpResponse:
    """Cover the screen now (the button, or the browser after the idle minutes); the unlock
    returns to the page that was in view."""
    sessions.lock(request)
    return redirect(_unlock_url(_back_to(request, request.POST.get("next", ""))))


@never_cache
@login_required
def unlock(request: HttpRequest) -> HttpResponse:
    """A locked screen: the signed-in user's password takes it back; nothing else is shown and
    the shift stays open. Wrong passwords count towards the sign-in lockout."""
    user = request.user
    assert isinstance(user, User)
    back = _back_to(request, request.GET.get("next", "")) or reverse("cashier:home")
    if not sessions.is_locked(request):
        return redirect(back)
    form = forms.ScreenUnlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        again = authenticate(
            request, username=user.username, password=form.cleaned_data["password"]
        )
        if again is not None and again.pk == user.pk:
            identity.register_screen_unlock(user)
            sessions.unlock(request)
            return redirect(back)
        user.refresh_from_db(fields=["failed_logins", "locked_until"])
        if user_selectors.is_locked(user):
            logout(request)
            messages.error(request, _("Too many wrong passwords: the account is locked for now."))
            return redirect("web:login")
        form.add_error("password", _("That is not your password."))
    return render(request, "cashier/unlock.html", {"form": form})


@never_cache
@login_required
def alive(request: HttpRequest) -> HttpResponse:
    """The cashier is typing or moving the mouse on a page that sends nothing: the session is
    in use (the middleware notes it). A locked or ended session is redirected instead."""
    return HttpResponse(status=204)
