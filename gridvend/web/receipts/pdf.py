"""A4 PDFs of a receipt and of a shift's Z report: the same HTML templates and stylesheet as the
screens, laid out by the shared PDF machinery (:mod:`gridvend.pdf.layout`: the shipped fonts,
Arabic shaping, nothing fetched outside the package).
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from gridvend.pdf.layout import (
    ISOLATE_CSS,
    PDF_OPTIONS,
    STATIC_DIR,
    PackageFilesOnly,
    RefusedAddress,
    isolate_bdi,
    write_pdf,
)
from gridvend.web.receipts.render import ReceiptData, ShiftReportData

__all__ = [
    "ISOLATE_CSS",
    "PDF_OPTIONS",
    "STATIC_DIR",
    "STYLESHEET",
    "PackageFilesOnly",
    "RefusedAddress",
    "isolate_bdi",
    "receipt_pdf",
    "render_pdf",
    "shift_report_pdf",
]

STYLESHEET = STATIC_DIR / "gridvend" / "receipts.css"


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    """``template`` rendered with ``pdf`` set (no screen toolbar, links or external
    stylesheet) and laid out as a PDF in the active language."""
    page = render_to_string(template, {**context, "pdf": True})
    return write_pdf(page, stylesheets=[STYLESHEET])


def receipt_pdf(data: ReceiptData) -> bytes:
    """The receipt on an A4 page (more if a sale has many tokens)."""
    return render_pdf("receipts/a4.html", {"r": data})


def shift_report_pdf(data: ShiftReportData) -> bytes:
    """The Z report on landscape A4 pages, from the printable report's own template."""
    return render_pdf("receipts/shift_report.html", {"z": data})
