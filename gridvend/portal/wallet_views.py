"""The portal's wallet pages: the balance and the statement (a month as PDF), top-ups (a card
provider's hosted page and back, an STK push, the bank-transfer reference), paying a shown
breakdown from the wallet, and the auto-purchase setting. Each parses its form, calls
``gridvend.logins.wallets`` (which answers only the login's own customers' wallets) and renders;
another customer's wallet, payment or sale answers 404 like one that does not exist."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils import translation
from django.views.decorators.http import require_POST

from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.logins import selectors, services
from gridvend.logins import wallets as portal_wallets
from gridvend.logins.models import CustomerLogin, PortalCardTopUp
from gridvend.mobilemoney.models import StkState
from gridvend.portal import forms, wallet_forms
from gridvend.portal.views import REFRESH_SECONDS, _buy_form, _page, _refusal
from gridvend.portal.views import customer_required as _customer_required
from gridvend.wallet.models import CardPaymentState, Wallet
from gridvend.wallet.selectors import balance


def customer_required(view: Any) -> Any:
    """As the portal's, and a wallet, payment or sale that is not the login's answers 404."""
    inner = _customer_required(view)

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response: HttpResponse = inner(request, *args, **kwargs)
        except NotFound:
            raise Http404() from None
        return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _wallet_context(wallet: Wallet) -> dict[str, Any]:
    return {"wallet": wallet, "balance": balance(wallet)}


@customer_required
def wallet_index(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    """The login's wallets: straight to the one, or a list when its meters have several
    customers (a landlord's)."""
    customers = portal_wallets.wallet_customers(login)
    if len(customers) == 1:
        return redirect("portal:wallet", account=customers[0].account_number)
    return _page(request, "wallet_index.html", {"customers": customers})


@customer_required
def wallet(request: HttpRequest, login: CustomerLogin, account: str) -> HttpResponse:
    """The balance, the movements of the last year a page at a time, the bank-transfer
    reference, and the month whose statement the customer may download."""
    found = portal_wallets.get_wallet(login, account)
    query = wallet_forms.PageForm(request.GET or None)
    status = 200 if query.is_valid() or not request.GET else 400
    page_number = (
        query.cleaned_data.get("page") if query.is_bound and query.is_valid() else 1
    ) or 1
    pages = Paginator(portal_wallets.recent_movements(found), wallet_forms.PER_PAGE)
    page = pages.get_page(page_number)
    context = {
        **_wallet_context(found),
        "page": page,
        "query": query,
        "meters": portal_wallets.wallet_meters(login, found),
        "auto_amount": Money(found.auto_amount_minor, found.currency)
        if found.auto_amount_minor
        else None,
        "auto_threshold": Money(found.auto_threshold_minor, found.currency)
        if found.auto_threshold_minor
        else None,
    }
    return _page(request, "wallet.html", context, status=status)


@customer_required
def statement_pdf(request: HttpRequest, login: CustomerLogin, account: str) -> HttpResponse:
    """One month's statement as a PDF (``?month=YYYY-MM``, a month that has begun)."""
    from gridvend.pdf.layout import STATIC_DIR, write_pdf

    found = portal_wallets.get_wallet(login, account)
    query = wallet_forms.PageForm(request.GET)
    if not query.is_valid() or query.cleaned_data.get("month") is None:
        return _page(
            request,
            "wallet.html",
            {**_wallet_context(found), "query": query, "page": None, "meters": []},
            status=400,
        )
    month = query.cleaned_data["month"]
    statement = portal_wallets.month_statement(found, month)
    page = render_to_string(
        "portal/wallet_statement_pdf.html",
        {
            "statement": statement,
            "wallet": found,
            "customer_name": found.customer.name,
            "month": month,
            "utility_name": settings.UTILITY_NAME,
            "LANG": translation.get_language(),
            "RTL": translation.get_language_bidi(),
        },
    )
    body = write_pdf(page, stylesheets=[STATIC_DIR / "gridvend" / "statement.css"])
    response = HttpResponse(body, content_type="application/pdf")
    name = f"wallet-{found.reference}-{month:%Y-%m}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- top-ups -------------------------------------------------------------------------------------


@customer_required
def top_up(request: HttpRequest, login: CustomerLogin, account: str) -> HttpResponse:
    """Top up by card (to the provider's page and back) or by an STK push to a phone; the
    bank-transfer reference is shown beside them. One form, one request id: a double submit
    starts one payment."""
    found = portal_wallets.get_wallet(login, account)
    providers = list(settings.WALLET_CARD_PROVIDERS)
    initial = {"phone": login.phone, "request_id": forms.new_request_id()}
    data = request.POST if request.method == "POST" else None
    form = wallet_forms.TopUpForm(
        data, providers=providers, currency=found.currency, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        cleaned = form.cleaned_data
        rid = cleaned["request_id"]
        method = cleaned["method"]
        try:
            amount = Money.from_major(cleaned["amount"], found.currency)
            if method.startswith("card:"):
                claim = portal_wallets.start_card_top_up(
                    login=login, wallet=found, amount=amount, provider=method[5:], request_id=rid
                )
                return _to_card(account, claim)
            push = portal_wallets.start_stk_top_up(
                login=login,
                wallet=found,
                amount=amount,
                phone=cleaned["phone"],
                request_id=rid,
            )
        except DomainError as exc:
            field = "phone" if exc.code == "MOBILE_PHONE_INVALID" else "amount"
            _refusal(form, exc, field if exc.code != "DUPLICATE_REQUEST" else None)
        else:
            return redirect("portal:wallet-stk", account=account, pk=push.pk)
    status = 400 if request.method == "POST" else 200
    return _page(request, "wallet_top_up.html", {**_wallet_context(found), "form": form}, status)


def _to_card(account: str, claim: PortalCardTopUp) -> HttpResponse:
    """To the provider's page of the form's card payment; a double submit while the first one
    still waits for the provider goes to the wallet page (its movements show the top-up)."""
    if claim.payment is None:
        return redirect("portal:wallet", account=account)
    return HttpResponseRedirect(claim.page_url)


@customer_required
def card(request: HttpRequest, login: CustomerLogin, reference: str) -> HttpResponse:
    """A card top-up after the provider's page: credited, declined, or not answered yet."""
    payment = portal_wallets.get_card_payment(login, reference)
    context = {
        **_wallet_context(payment.wallet),
        "payment": payment,
        "amount": Money(payment.amount_minor, payment.currency),
        "paid": payment.state == CardPaymentState.PAID,
        "failed": payment.state == CardPaymentState.FAILED,
    }
    return _page(request, "wallet_card.html", context)


@customer_required
def stk(request: HttpRequest, login: CustomerLogin, account: str, pk: int) -> HttpResponse:
    """A mobile-money top-up: waiting for the phone (the page reloads itself), then how it
    ended."""
    found = portal_wallets.get_wallet(login, account)
    push = portal_wallets.get_stk_top_up(login, found, pk)
    waiting = push.state == StkState.REQUESTED
    context = {
        **_wallet_context(found),
        "push": push,
        "amount": services.amount_of(push),
        "waiting": waiting,
        "credited": push.payment is not None,
        "refresh": REFRESH_SECONDS if waiting else 0,
    }
    return _page(request, "wallet_stk.html", context)


# --- paying from the wallet ----------------------------------------------------------------------


@customer_required
@require_POST
def pay(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    """Pay a shown breakdown from the wallet: the token on the next page (and by SMS and
    e-mail). A second submit of the same form answers the first sale; a wallet that does not
    hold the price is refused beside the form and nothing is written."""
    form = _buy_form(request, login, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            link = selectors.get_linked_meter(login, data["meter"])
            found, result = portal_wallets.buy_with_wallet(
                login=login,
                meter_number=link.meter.number,
                amount=services.amount_for(link.meter, data["amount"]),
                request_id=data["request_id"],
            )
        except NotFound:
            form.add_error("meter", translation.gettext("Choose one of your meters."))
        except DomainError as exc:
            _refusal(form, exc, None)
        else:
            return redirect(
                "portal:wallet-sale",
                account=found.customer.account_number,
                reference=result.sale.reference,
            )
    return _page(request, "buy.html", {"form": form, "quote": None, "b": None}, status=400)


@customer_required
def sale(request: HttpRequest, login: CustomerLogin, account: str, reference: str) -> HttpResponse:
    """A purchase paid from the wallet: its token."""
    found = portal_wallets.get_wallet(login, account)
    sold = portal_wallets.get_wallet_sale(login, found, reference)
    context = {
        **_wallet_context(found),
        "sale": sold,
        "tokens": selectors.sale_tokens(sold),
        "amount": Money(sold.tender_minor, sold.currency),
    }
    return _page(request, "wallet_sale.html", context)


# --- auto-purchase -------------------------------------------------------------------------------


@customer_required
def auto_purchase(request: HttpRequest, login: CustomerLogin, account: str) -> HttpResponse:
    """Turn auto-purchase on (a meter, a threshold, an amount no larger than it) or off."""
    found = portal_wallets.get_wallet(login, account)
    meters = [link.meter.number for link in portal_wallets.wallet_meters(login, found)]
    initial: dict[str, Any] = {"enabled": found.auto_meter_id is not None}
    if found.auto_meter_id is not None:
        initial["meter"] = next(
            (
                link.meter.number
                for link in portal_wallets.wallet_meters(login, found)
                if link.meter_id == found.auto_meter_id
            ),
            "",
        )
        initial["threshold"] = Money(found.auto_threshold_minor or 0, found.currency).to_major()
        initial["amount"] = Money(found.auto_amount_minor or 0, found.currency).to_major()
    data = request.POST if request.method == "POST" else None
    form = wallet_forms.AutoPurchaseForm(
        data, meters=meters, currency=found.currency, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        cleaned = form.cleaned_data
        try:
            if cleaned.get("enabled"):
                portal_wallets.set_portal_auto_purchase(
                    login=login,
                    wallet=found,
                    meter_number=cleaned["meter"],
                    threshold=Money.from_major(cleaned["threshold"], found.currency),
                    amount=Money.from_major(cleaned["amount"], found.currency),
                )
            else:
                portal_wallets.set_portal_auto_purchase(
                    login=login, wallet=found, meter_number=None
                )
        except DomainError as exc:
            _refusal(form, exc, None)
        else:
            return redirect("portal:wallet", account=account)
    status = 400 if request.method == "POST" else 200
    context = {**_wallet_context(found), "form": form}
    return _page(request, "wallet_auto.html", context, status=status)
