"""Receipt and Z report screens: an 80 mm thermal page, A4 PDFs, and the printable shift report."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language_bidi
from django.views.decorators.cache import never_cache

from gridvend.identity.models import User
from gridvend.vending import selectors as vending_selectors
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.vending.shifts import z_report
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
    """The sale in the actor's scope (else 404); ``?reprint=1`` audits the reprint first."""
    actor = _actor(request)
    sale = vending_selectors.get_sale(actor, reference)
    if request.GET.get("reprint") in {"1", "true", "yes"}:
        result = vending.reprint(actor=actor, sale=sale)
        return sale, build_receipt(sale, reprint=True, tokens=result.tokens)
    return sale, build_receipt(sale)


def _pdf_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


# Receipts carry live tokens and customer details: never kept by a browser or a proxy.


@never_cache
@login_required
def thermal(request: HttpRequest, reference: str) -> HttpResponse:
    sale, data = _receipt(request, reference)
    return render(request, "receipts/thermal.html", {"r": data, "urls": receipt_urls(sale)})


@never_cache
@login_required
def receipt_pdf(request: HttpRequest, reference: str) -> HttpResponse:
    _sale, data = _receipt(request, reference)
    body = pdf.receipt_pdf(data, rtl=get_language_bidi())
    return _pdf_response(body, f"receipt-{data.receipt_number}.pdf")


@never_cache
@login_required
def shift_report(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    data = build_shift_report(z_report(actor, get_shift(actor, pk)))
    return render(request, "receipts/shift_report.html", {"z": data})


@never_cache
@login_required
def shift_report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _actor(request)
    data = build_shift_report(z_report(actor, get_shift(actor, pk)))
    body = pdf.shift_report_pdf(data, rtl=get_language_bidi())
    return _pdf_response(body, f"shift-{data.shift_id}.pdf")
