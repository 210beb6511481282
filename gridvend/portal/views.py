"""The portal's pages. Each parses its form, calls gridvend.logins and renders; refusals are
shown beside the form in the customer's language, never as a server error."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pyotp
import segno
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError
from gridvend.logins import selectors, services
from gridvend.logins.models import CustomerLogin
from gridvend.mobilemoney.models import StkState
from gridvend.portal import forms
from gridvend.portal.sessions import customer, sign_in, sign_out

SIGN_UP_CODE = "gv_portal_sign_up"
PENDING = "gv_portal_pending"
PENDING_NEXT = "gv_portal_pending_next"
# How long the code step waits after the password (seconds).
PENDING_SECONDS = 300
RESET_CODE = "gv_portal_reset"
METER_CODE = "gv_portal_meter"
# How often the purchase page asks again while the phone has not answered (seconds).
REFRESH_SECONDS = 4

View = Callable[..., HttpResponse]


def _session(request: HttpRequest) -> Any:
    return request.portal_session  # type: ignore[attr-defined]


def customer_required(view: View) -> View:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        login = customer(request)
        if login is None:
            target = reverse("portal:login")
            if request.method == "GET":
                target += "?" + urlencode({"next": request.get_full_path()[:300]})
            return HttpResponseRedirect(target)
        return view(request, login, *args, **kwargs)

    return wrapped


def _refusal(form: Any, exc: DomainError, field: str | None = None) -> None:
    where = field or getattr(exc, "params", {}).get("field")
    form.add_error(where if where in form.fields else None, exc.message)


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(
        request, f"portal/{template}", {"customer": customer(request), **context}, status=status
    )


# --- signing in and out -----------------------------------------------------------------------


def login(request: HttpRequest) -> HttpResponse:
    form = forms.LoginForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        found = services.sign_in_customer(
            username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if found is not None and found.uses_totp:
            # The password was right; the authenticator's code completes the sign-in.
            _session(request).flush()
            _session(request)[PENDING] = {"login": found.pk, "at": time.time()}
            _session(request)[PENDING_NEXT] = request.GET.get("next", "")[:300]
            return redirect("portal:login-code")
        if found is not None:
            sign_in(request, found)
            nxt = request.GET.get("next", "")
            safe = url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()})
            return redirect(nxt if safe and nxt.startswith("/portal/") else reverse("portal:home"))
        form.add_error(
            None,
            translation.gettext(
                "The user name or the password is not right, or the login is locked for a while "
                "after repeated tries."
            ),
        )
    status = 400 if request.method == "POST" else 200
    return _page(request, "login.html", {"form": form}, status=status)


def _pending(request: HttpRequest) -> CustomerLogin | None:
    held = _session(request).get(PENDING)
    if not isinstance(held, dict):
        return None
    pk, at = held.get("login"), held.get("at")
    if not isinstance(pk, int) or not isinstance(at, float) or time.time() - at > PENDING_SECONDS:
        return None
    return CustomerLogin.objects.filter(pk=pk, is_active=True).first()


def login_code(request: HttpRequest) -> HttpResponse:
    """The authenticator's code, after a right password, for a login that chose one."""
    login_ = _pending(request)
    if login_ is None:
        return redirect("portal:login")
    form = forms.TotpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if services.verify_customer_totp(login=login_, code=form.cleaned_data["code"]):
            nxt = str(_session(request).get(PENDING_NEXT, ""))
            sign_in(request, login_)
            safe = url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()})
            return redirect(nxt if safe and nxt.startswith("/portal/") else reverse("portal:home"))
        form.add_error(
            "code",
            translation.gettext(
                "That code is not valid, or the login is locked for a while after repeated tries."
            ),
        )
    status = 400 if request.method == "POST" else 200
    return _page(request, "login_code.html", {"form": form}, status=status)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    return redirect("portal:login")


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    form = forms.LanguageForm(request.POST)
    response = redirect(_back(request))
    if form.is_valid():
        code = form.cleaned_data["language"]
        login = customer(request)
        if login is not None:
            services.set_portal_language(login=login, language=code)
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, code, samesite="Lax")
    return response


def _back(request: HttpRequest) -> str:
    nxt = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()})
    return nxt if safe and nxt.startswith("/portal/") else reverse("portal:home")


# --- sign-up ---------------------------------------------------------------------------------


def sign_up(request: HttpRequest) -> HttpResponse:
    form = forms.ProofForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            row = services.request_sign_up_code(
                meter_number=data["meter_number"],
                account_number=data["account_number"],
                channel=data["channel"],
                language=translation.get_language() or "",
            )
        except DomainError as exc:
            _refusal(form, exc)
        else:
            _session(request)[SIGN_UP_CODE] = row.public_id
            return redirect("portal:sign-up-code")
    status = 400 if request.method == "POST" else 200
    return _page(request, "sign_up.html", {"form": form}, status=status)


def sign_up_code(request: HttpRequest) -> HttpResponse:
    public_id = _session(request).get(SIGN_UP_CODE)
    if not isinstance(public_id, str):
        return redirect("portal:sign-up")
    form = forms.SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            login_ = services.complete_sign_up(
                public_id=public_id,
                code=data["code"],
                username=data["username"],
                password=data["password"],
                language=translation.get_language() or "",
            )
        except DomainError as exc:
            _refusal(form, exc)
        else:
            sign_in(request, login_)
            return redirect("portal:home")
    status = 400 if request.method == "POST" else 200
    return _page(request, "sign_up_code.html", {"form": form}, status=status)


# --- password reset ----------------------------------------------------------------------------


def reset(request: HttpRequest) -> HttpResponse:
    form = forms.ResetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            row = services.request_reset_code(
                username=form.cleaned_data["username"], channel=form.cleaned_data["channel"]
            )
        except DomainError as exc:
            _refusal(form, exc)
        else:
            # An unknown name gets a code id that matches nothing: the next page looks the same.
            _session(request)[RESET_CODE] = row.public_id if row else secrets.token_hex(16)
            return redirect("portal:reset-code")
    status = 400 if request.method == "POST" else 200
    return _page(request, "reset.html", {"form": form}, status=status)


def reset_code(request: HttpRequest) -> HttpResponse:
    public_id = _session(request).get(RESET_CODE)
    if not isinstance(public_id, str):
        return redirect("portal:reset")
    form = forms.NewPasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.complete_password_reset(
                public_id=public_id,
                code=form.cleaned_data["code"],
                password=form.cleaned_data["password"],
            )
        except DomainError as exc:
            _refusal(form, exc)
        else:
            _session(request).pop(RESET_CODE, None)
            return redirect(reverse("portal:login") + "?reset=1")
    status = 400 if request.method == "POST" else 200
    return _page(request, "reset_code.html", {"form": form}, status=status)


# --- my meters and purchases ---------------------------------------------------------------------


@customer_required
def home(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    return _page(
        request,
        "home.html",
        {
            "meters": selectors.linked_meters(login),
            "purchases": selectors.recent_purchases(login),
        },
    )


@customer_required
def add_meter(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    form = forms.ProofForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            row = services.request_meter_code(
                login=login,
                meter_number=data["meter_number"],
                account_number=data["account_number"],
                channel=data["channel"],
            )
        except DomainError as exc:
            _refusal(form, exc)
        else:
            _session(request)[METER_CODE] = row.public_id
            return redirect("portal:add-meter-code")
    status = 400 if request.method == "POST" else 200
    return _page(request, "add_meter.html", {"form": form}, status=status)


@customer_required
def add_meter_code(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    public_id = _session(request).get(METER_CODE)
    if not isinstance(public_id, str):
        return redirect("portal:add-meter")
    form = forms.CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.complete_meter_link(
                login=login, public_id=public_id, code=form.cleaned_data["code"]
            )
        except DomainError as exc:
            _refusal(form, exc)
        else:
            _session(request).pop(METER_CODE, None)
            return redirect("portal:home")
    status = 400 if request.method == "POST" else 200
    return _page(request, "add_meter_code.html", {"form": form}, status=status)


# --- buying ------------------------------------------------------------------------------------


def _buy_form(request: HttpRequest, login: CustomerLogin, data: Any = None) -> forms.BuyForm:
    meters = [link.meter.number for link in selectors.linked_meters(login)]
    initial = {"phone": login.phone, "request_id": forms.new_request_id()}
    chosen = request.GET.get("meter", "")
    if chosen in meters:
        initial["meter"] = chosen
    return forms.BuyForm(data, meters=meters, initial=initial)


@customer_required
def buy(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    """The buy form; posted, the trial breakdown of that purchase with the button that pays."""
    form = _buy_form(request, login, request.POST if request.method == "POST" else None)
    quote = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            link = selectors.get_linked_meter(login, data["meter"])
            amount = services.amount_for(link.meter, data["amount"])
            quote = services.quote_portal_purchase(
                login=login, meter_number=data["meter"], amount=amount
            )
        except NotFound:
            form.add_error("meter", translation.gettext("Choose one of your meters."))
        except DomainError as exc:
            _refusal(form, exc, "amount")
    status = 400 if request.method == "POST" and quote is None else 200
    context = {"form": form, "quote": quote, "b": quote.breakdown if quote else None}
    return _page(request, "buy.html", context, status=status)


@customer_required
@require_POST
def pay(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    """Start the payment of a shown breakdown; a second submit of the same form answers the
    purchase the first one started."""
    form = _buy_form(request, login, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            link = selectors.get_linked_meter(login, data["meter"])
            purchase = services.start_portal_purchase(
                login=login,
                meter_number=link.meter.number,
                amount=services.amount_for(link.meter, data["amount"]),
                phone=data["phone"],
                request_id=data["request_id"],
            )
        except NotFound:
            form.add_error("meter", translation.gettext("Choose one of your meters."))
        except DomainError as exc:
            _refusal(form, exc, "phone" if exc.code == "MOBILE_PHONE_INVALID" else None)
        else:
            return redirect("portal:purchase", pk=purchase.pk)
    return _page(request, "buy.html", {"form": form, "quote": None, "b": None}, status=400)


@customer_required
def purchase(request: HttpRequest, login: CustomerLogin, pk: int) -> HttpResponse:
    """A portal purchase: waiting for the phone (the page reloads itself, no script needed),
    the token once sold (also e-mailed, once), or how it ended."""
    found = selectors.get_portal_purchase(login, pk)
    sale = selectors.purchase_sale(found)
    tokens = selectors.sale_tokens(sale) if sale is not None else []
    if sale is not None:
        services.email_portal_token(purchase=found)
    push = found.push
    waiting = push.state == StkState.REQUESTED
    context = {
        "purchase": found,
        "push": push,
        "sale": sale,
        "tokens": tokens,
        "waiting": waiting,
        "in_suspense": push.payment is not None and sale is None,
        "refresh": REFRESH_SECONDS if waiting else 0,
        "amount": services.amount_of(push),
    }
    return _page(request, "purchase.html", context)


# --- the authenticator app -----------------------------------------------------------------------


@customer_required
def security(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    """Turn an authenticator app on (password, then scan, then a code) or off (password)."""
    action = request.POST.get("action", "") if request.method == "POST" else ""
    password_form = forms.PasswordForm(request.POST if action in ("start", "remove") else None)
    code_form = forms.TotpForm(request.POST if action == "confirm" else None)
    status = 200
    if action in ("start", "remove") and password_form.is_valid():
        try:
            if action == "start":
                services.start_customer_totp(
                    login=login, password=password_form.cleaned_data["password"]
                )
            else:
                services.remove_customer_totp(
                    login=login, password=password_form.cleaned_data["password"]
                )
                return redirect("portal:security")
        except DomainError as exc:
            _refusal(password_form, exc, "password")
            status = 400
    elif action == "confirm" and code_form.is_valid():
        try:
            services.confirm_customer_totp(login=login, code=code_form.cleaned_data["code"])
        except DomainError as exc:
            _refusal(code_form, exc, "code")
            status = 400
        else:
            return redirect("portal:security")
    elif action:
        status = 400
    login.refresh_from_db()
    pending = login.totp_pending_secret
    context: dict[str, Any] = {
        "password_form": password_form,
        "code_form": code_form,
        "uses_totp": login.uses_totp,
        "pending": pending,
    }
    if pending:
        uri = pyotp.TOTP(pending).provisioning_uri(
            name=login.username, issuer_name=settings.UTILITY_NAME
        )
        context["qr"] = segno.make(uri, error="m").svg_data_uri(scale=4)
    return _page(request, "security.html", context, status=status)
