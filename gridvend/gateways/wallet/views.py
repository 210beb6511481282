"""Card provider endpoints: POST-only callbacks with a body cap checked before reading, the
signature verified over the exact bytes received (``wallet.services.apply_card_notice``), every
refusal answered with its stable code and nothing written; the customer's return carries the
same signed notice (base64url) and shows the outcome; the sandbox's hosted page stands in for a
provider's in development (only where ``WALLET_SANDBOX`` is on)."""

from __future__ import annotations

import base64
import binascii
import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.wallet import services
from gridvend.wallet.models import CardPayment, CardPaymentState
from gridvend.wallet.providers import MAX_NOTICE_BYTES, SandboxCardProvider

logger = logging.getLogger("gridvend.wallet")

SIGNATURE_HEADER = "HTTP_X_SIGNATURE"


def _refused(exc: DomainError) -> JsonResponse:
    status = 404 if exc.code == "CARD_PROVIDER_UNKNOWN" else 400
    return JsonResponse({"error": {"code": exc.code, "message": str(exc.message)}}, status=status)


@csrf_exempt
@require_http_methods(["POST"])
def callback(request: HttpRequest, provider: str) -> JsonResponse:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_NOTICE_BYTES:
        return JsonResponse({"error": {"code": "CARD_CALLBACK_INVALID"}}, status=413)
    try:
        payment = services.apply_card_notice(
            provider=provider,
            body=request.body,
            signature=request.META.get(SIGNATURE_HEADER, ""),
        )
    except DomainError as exc:
        logger.warning("card callback from %s refused: %s", provider[:30], exc.code)
        return _refused(exc)
    return JsonResponse({"reference": payment.reference, "state": payment.state})


def _page(title: str, body: str, status: int = 200) -> HttpResponse:
    html = format_html(
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{}</title></head><body><main><h1>{}</h1>{}</main></body></html>",
        title,
        title,
        body,
    )
    return HttpResponse(html, status=status)


@require_http_methods(["GET"])
def return_page(request: HttpRequest, provider: str) -> HttpResponse:
    """The customer's browser back from the provider: the signed notice applied (a replay of the
    callback changes nothing), and what became of the payment."""
    raw = str(request.GET.get("notice", ""))[: MAX_NOTICE_BYTES * 2]
    try:
        body = base64.urlsafe_b64decode(raw.encode("ascii") + b"==")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        body = b""
    try:
        payment = services.apply_card_notice(
            provider=provider, body=body, signature=str(request.GET.get("signature", ""))
        )
    except DomainError as exc:
        return _page(_("Payment not recognised"), format_html("<p>{}</p>", exc.message), 400)
    amount = Money(payment.amount_minor, payment.currency)
    if payment.state == CardPaymentState.PAID:
        text = _("%(amount)s was added to your wallet.") % {"amount": amount.format()}
        return _page(_("Payment received"), format_html("<p>{}</p>{}", text, _back(payment)))
    # Only what we know: the provider said not paid, and the wallet was not credited. Whether
    # a card was charged is the provider's to say; a later "paid" notice still credits it.
    text = _(
        "The payment provider reported this payment as not made, and nothing was added to "
        "your wallet. If your card was charged, contact us with the reference %(reference)s."
    ) % {"reference": payment.reference}
    return _page(_("Payment not made"), format_html("<p>{}</p>{}", text, _back(payment)))


def _back(payment: CardPayment) -> str:
    """The link back to the customer's portal, where the top-up's outcome is shown."""
    url = reverse("portal:wallet-card", kwargs={"reference": payment.reference})
    return format_html('<p><a href="{}" id="back">{}</a></p>', url, _("Back to my wallet"))


@require_http_methods(["GET", "POST"])
def sandbox_page(request: HttpRequest, provider_reference: str) -> HttpResponse:
    """The sandbox provider's hosted page: Pay or Decline. Its answer is sent as the provider
    would: the signed callback (applied here directly), then the browser's signed return."""
    if not settings.WALLET_SANDBOX:
        raise Http404()
    payment = CardPayment.objects.filter(
        provider="sandbox", provider_reference=str(provider_reference)[:64]
    ).first()
    if payment is None:
        raise Http404()
    amount = Money(payment.amount_minor, payment.currency)
    if request.method == "POST":
        outcome = "paid" if request.POST.get("outcome") == "paid" else "failed"
        sandbox = SandboxCardProvider()
        body = sandbox.notice_body(
            provider_reference=payment.provider_reference,
            reference=payment.reference,
            amount=amount,
            outcome=outcome,
        )
        signature = sandbox.sign(body)
        try:
            services.apply_card_notice(provider="sandbox", body=body, signature=signature)
        except DomainError as exc:
            logger.warning("sandbox callback refused: %s", exc.code)
        query = urlencode(
            {
                "notice": base64.urlsafe_b64encode(body).decode().rstrip("="),
                "signature": signature,
            }
        )
        return redirect(f"{reverse('wallet-card:return', kwargs={'provider': 'sandbox'})}?{query}")
    form = format_html(
        '<p>{}</p><p dir="ltr">{}</p><form method="post">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
        '<button name="outcome" value="paid">{}</button> '
        '<button name="outcome" value="failed">{}</button></form>',
        _("Sandbox payment page: no real money moves."),
        amount.format(),
        get_token(request),
        _("Pay"),
        _("Decline"),
    )
    return _page(_("Pay by card (sandbox)"), form)
