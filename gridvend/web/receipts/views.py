"""Receipt and Z report screens: an 80 mm thermal page, A4 PDFs, and the printable shift report."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.configuration import NetworkPrinter
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.reports.shifts import z_report
from gridvend.vending import selectors as vending_selectors
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import BackOfficeRefund, Reversal, Sale, SaleKind, SaleStatus
from gridvend.vending.shifts import can_read_report, expected_hidden, refund_paid_from
from gridvend.web import sessions
from gridvend.web.caching import no_store
from gridvend.web.errors import PrinterNotConfigured, PrinterUnavailable, describe
from gridvend.web.framing import framed_by_own_pages
from gridvend.web.receipts import escpos, pdf
from gridvend.web.receipts.render import (
    ReceiptData,
    ShiftReportData,
    build_receipt,
    build_shift_report,
    payment_method_label,
    receipt_urls,
)
from gridvend.web.receipts.selectors import get_shift


def _reprint_asked(values: Any) -> bool:
    return values.get("reprint") in {"1", "true", "yes"}


def _receipt(
    request: HttpRequest, reference: str, *, reprint: bool | None = None
) -> tuple[Sale, ReceiptData]:
    """The sale in the actor's scope (else 404). The seller's first print is the original; any
    later print of theirs (or ``?reprint=1``) is marked REPRINT; anyone else's view is a COPY,
    with the tokens masked unless they may see tokens. Every print and view is audited."""
    actor = sessions.actor(request)
    sale = vending_selectors.get_sale(actor, reference)
    result = vending.print_receipt(
        actor=actor,
        sale=sale,
        reprint_requested=_reprint_asked(request.GET) if reprint is None else reprint,
    )
    return sale, build_receipt(
        sale,
        reprint=result.mark == vending.ReceiptMark.REPRINT,
        copy=result.mark == vending.ReceiptMark.COPY,
        tokens_visible=result.tokens_visible,
        tokens=result.tokens,
    )


def sale_context(actor: User, sold: Sale) -> dict[str, Any]:
    reversal: Reversal | None = getattr(sold, "reversal", None)
    back_office: BackOfficeRefund | None = None
    if reversal is not None:
        back_office = BackOfficeRefund.objects.filter(reversal=reversal).first()
    printed = sold.receipt_printed_at is not None
    urls = receipt_urls(sold)
    suffix = "?reprint=1" if printed else ""
    shift = sold.shift
    may_request = (
        sold.kind == SaleKind.CREDIT
        and sold.status == SaleStatus.COMPLETED
        and (actor.has_capability(Capability.CASHIER) or actor.has_capability(Capability.FINANCE))
    )
    return {
        "sale": sold,
        "payment_label": payment_method_label(sold.payment_method),
        "printed": printed,
        "thermal_url": urls["thermal"] + suffix,
        "pdf_url": urls["pdf"] + suffix,
        "reversal": reversal,
        "paid_from": refund_paid_from(reversal) if reversal is not None else "",
        "back_office": back_office,
        "shift_report": shift is not None and can_read_report(actor, shift),
        "may_request_reversal": may_request,
    }


def _pdf_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


# Receipts carry live tokens and customer details: never kept by a browser or a proxy.


@no_store
@login_required
def sale(request: HttpRequest, reference: str) -> HttpResponse:
    """An old sale, found from a shift, a customer or a meter: what it was, whether and where it
    was refunded, and its receipt again (the tokens are shown only by the audited reprint)."""
    actor = sessions.actor(request)
    sold = vending_selectors.get_sale(actor, reference)
    return render(request, "receipts/sale.html", sale_context(actor, sold))


@framed_by_own_pages
@no_store
@login_required
def thermal(request: HttpRequest, reference: str) -> HttpResponse:
    sale, data = _receipt(request, reference)
    return render(request, "receipts/thermal.html", {"r": data, "urls": receipt_urls(sale)})


@no_store
@login_required
def receipt_pdf(request: HttpRequest, reference: str) -> HttpResponse:
    _sale, data = _receipt(request, reference)
    body = pdf.receipt_pdf(data)
    return _pdf_response(body, f"receipt-{data.receipt_number}.pdf")


def escpos_printer(actor: User, sale: Sale | None = None) -> NetworkPrinter | None:
    """The receipt printer where the actor stands: their open shift's vending point, else the
    sale's; None when none is configured."""
    shift = shifts.current_shift(actor)
    point = shift.vending_point if shift is not None else getattr(sale, "vending_point", None)
    return escpos.printer_for(point.code if point is not None else "")


def _back(request: HttpRequest, sale: Sale) -> str:
    target = str(request.POST.get("next", ""))
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("receipts:sale", args=[sale.reference])


@no_store
@login_required
@require_POST
def print_escpos(request: HttpRequest, reference: str) -> HttpResponse:
    """Print the receipt on the vending point's ESC/POS network printer: no dialogue. The print
    is recorded first, like any print (original, REPRINT or COPY); if the printer then fails,
    the cashier is told, and printing again gives a REPRINT."""
    actor = sessions.actor(request)
    sale = vending_selectors.get_sale(actor, reference)
    printer = escpos_printer(actor, sale)
    if printer is None:
        shift = shifts.current_shift(actor)
        point = shift.vending_point if shift is not None else sale.vending_point
        messages.error(request, describe(PrinterNotConfigured(point.code if point else "")))
        return redirect(_back(request, sale))
    # The slip prints the printer's Latin code page: its labels are English (escpos.py).
    with translation.override("en"):
        sale, data = _receipt(request, reference, reprint=_reprint_asked(request.POST))
        payload = escpos.encode(data)
    try:
        escpos.send(printer, payload)
    except PrinterUnavailable as exc:
        messages.error(request, describe(exc))
    else:
        messages.success(request, _("The receipt was sent to the receipt printer."))
    return redirect(_back(request, sale))


def _shift_report(request: HttpRequest, pk: int) -> ShiftReportData:
    """The Z report; blind counting keeps an open shift's amounts from its own cashier."""
    actor = sessions.actor(request)
    shift = get_shift(actor, pk)
    return build_shift_report(z_report(actor, shift), blind=expected_hidden(actor, shift))


@no_store
@login_required
def shift_report(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "receipts/shift_report.html", {"z": _shift_report(request, pk)})


@no_store
@login_required
def shift_report_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    data = _shift_report(request, pk)
    body = pdf.shift_report_pdf(data)
    return _pdf_response(body, f"shift-{data.shift_id}.pdf")
