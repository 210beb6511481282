"""The customer's purchases from every channel: their token status (paged), a purchase's tokens
again, the customer's copy of the receipt as a PDF, and "my token was rejected" help. Every read
goes through gridvend.logins.purchases, which answers only the login's own meters."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache

from gridvend.identity.errors import NotFound
from gridvend.logins import purchases
from gridvend.logins.models import CustomerLogin
from gridvend.pdf.layout import STATIC_DIR, write_pdf
from gridvend.portal.views import _page, customer_required
from gridvend.vending.receipt import build_receipt

RECEIPT_STYLESHEET = STATIC_DIR / "gridvend" / "receipts.css"
# Where a customer reports a fault (the faults pages).
FAULT_REPORT_PATH = "/portal/faults/new/"


@never_cache
@customer_required
def purchases_list(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    """Every purchase of the login's meters, from every channel, with its token status."""
    page = purchases.purchase_page(login, purchases.page_number(request.GET.get("page")))
    return _page(request, "purchases.html", {"page": page, "rows": page.rows})


def _sale(login: CustomerLogin, reference: str) -> purchases.Sale:
    try:
        return purchases.get_sale(login, reference)
    except NotFound:
        raise Http404() from None


@never_cache
@customer_required
def token(request: HttpRequest, login: CustomerLogin, reference: str) -> HttpResponse:
    """One purchase: its status, its tokens again (in the order they go in) and its receipt."""
    sale = _sale(login, reference)
    context = {
        "sale": sale,
        "status": purchases.status_of(sale),
        "tokens": purchases.sale_tokens(sale),
    }
    return _page(request, "token.html", context)


@never_cache
@customer_required
def receipt_pdf(request: HttpRequest, login: CustomerLogin, reference: str) -> HttpResponse:
    """The customer's copy of the receipt, from the cashier's receipt data and A4 template,
    marked COPY (never the seller's original) and audited."""
    sale = _sale(login, reference)
    data = build_receipt(sale, copy=True, tokens_visible=True)
    purchases.record_receipt_copy(login=login, sale=sale)
    page = render_to_string("receipts/a4.html", {"r": data, "pdf": True})
    body = write_pdf(page, stylesheets=[RECEIPT_STYLESHEET])
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{sale.reference}-copy.pdf"'
    return response


@never_cache
@customer_required
def rejected(request: HttpRequest, login: CustomerLogin, reference: str) -> HttpResponse:
    """ "My token was rejected": the meter's key against the purchase's, the key-change tokens to
    enter first, the common causes, and where to report a fault."""
    try:
        help_ = purchases.rejected_help(login, reference)
    except NotFound:
        raise Http404() from None
    fault_url = (
        FAULT_REPORT_PATH + "?" + urlencode({"meter": help_.meter.pk, "purchase": help_.sale.pk})
    )
    return _page(request, "rejected.html", {"h": help_, "fault_url": fault_url})
