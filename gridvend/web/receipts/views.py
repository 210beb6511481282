"""Receipt and Z report screens: an 80 mm thermal page, A4 PDFs, and the printable shift report."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language_bidi

from gridvend.identity.models import User
from gridvend.vending import selectors as vending_selectors
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.vending.shifts import z_report
from gridvend.web.caching import no_store
from gridvend.web.receipts import pdf
from gridvend.web.receipts.render import (
    ReceiptData,
    build_receipt,
    build_shift_report,
    receipt_urls,
)
from gridvend.web.receipts.selectors import get_shift


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _receipt(request: HttpRequest, reference: str) -> tuple[Sale, ReceiptData]:
    """The sale in the actor's scope (else 404). The seller's first print is the original; any
    later print of theirs (or ``?reprint=1``) is marked REPRINT; anyone else's view is a COPY,
    with the tokens masked unless they may see tokens. Every print and view is audited."""
    actor = _actor(request)
    sale = vending_selectors.get_sale(actor, reference)
    result = vending.print_receipt(
        actor=actor,
        sale=sale,
        reprint_requested=request.GET.get("reprint") in {"1", "true", "yes"},
    )
    return sale, build_receipt(
        sale,
        reprint=result.mark == vending.ReceiptMark.REPRINT,
        copy=result.mark == vending.ReceiptMark.COPY,
        tokens_visible=result.tokens_visible,
        tokens=result.tokens,
    )


def _pdf_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


# Receipts carry live tokens and customer details: never kept by a browser or a proxy.


@no_store
@login_required
def thermal(request: HttpRequest, reference: str) -> HttpResponse:
    sale, data = _receipt(request, reference)
    return render(request, "receipts/thermal.html", {"r": data, "urls": receipt_urls(sale)})


@no_store
@login_required
def receipt_pdf(request: HttpRequest, reference: str) -> HttpResponse:
    _sale, data = _receipt(request, reference)
    body = pdf.receipt_pdf(data, rtl=get_language_bidi())
    return _pdf_response(body, f"receipt-{data.receipt_number}.pdf")


@no_store
@login_required
def shift_report(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    data = build_shift_report(z_report(actor, get_shift(actor, pk)))
    return render(request, "receipts/shift_report.html", {"z": data})


@no_store
@login_required
def shift_report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    data = build_shift_report(z_report(actor, get_shift(actor, pk)))
    body = pdf.shift_report_pdf(data, rtl=get_language_bidi())
    return _pdf_response(body, f"shift-{data.shift_id}.pdf")
