"""A bill as a document: the figures its page and its A4 PDF show, and the PDF itself (the
shared PDF machinery, gridvend.pdf.layout). One source for the back office's bill and the
customer portal's copy."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from gridvend.billing.models import Bill
from gridvend.kernel.money import Money
from gridvend.pdf.layout import STATIC_DIR, write_pdf

PDF_LANGUAGES = ("en", "ar", "zh-hans")
BILL_STYLESHEET = STATIC_DIR / "gridvend" / "bill.css"


def money(minor: int, currency: str) -> str:
    return str(Money(minor, currency).to_major())


def bill_context(bill: Bill) -> dict[str, Any]:
    cur = bill.currency
    return {
        "bill": bill,
        "lines": [(line, money(line.amount_minor, cur)) for line in bill.lines.all()],
        "amount": money(bill.amount_minor, cur),
        "previous_balance": money(bill.previous_balance_minor, cur),
        "late_fee": money(bill.late_fee_minor, cur),
        "paid": money(bill.paid_minor, cur),
        "owed": money(bill.owed_minor, cur),
        "due_total": money(bill.owed_minor + max(bill.previous_balance_minor, 0), cur),
        "allocations": [
            (a, money(a.amount_minor, cur))
            for a in bill.allocations.select_related("payment").order_by("id")
        ],
    }


def bill_pdf(bill: Bill, language: str) -> bytes:
    """The bill on A4 in ``language`` (one of PDF_LANGUAGES; anything else is English)."""
    chosen = language if language in PDF_LANGUAGES else "en"
    context = {
        **bill_context(bill),
        "utility_name": settings.UTILITY_NAME,
        "helpline": settings.HELPLINE,
    }
    with translation.override(chosen):
        page = render_to_string("billing/bill.html", context)
        return write_pdf(page, stylesheets=[BILL_STYLESHEET])
