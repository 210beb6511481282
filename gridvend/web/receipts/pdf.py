"""A4 PDFs of a receipt and of a shift's Z report, drawn with reportlab from the same data as the
HTML pages; right-to-left languages mirror the layout, tokens always read left to right."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from gridvend.kernel.money import Money
from gridvend.web.receipts import fonts
from gridvend.web.receipts.render import ReceiptData, ShiftReportData

# Views pass these to every canvas; tests switch compression off to search the page text.
PDF_OPTIONS: dict[str, Any] = {"pageCompression": 1}

MARGIN = 18 * mm
GREY = colors.Color(0.35, 0.35, 0.35)
LIGHT = colors.Color(0.92, 0.92, 0.92)
ALERT = colors.Color(0.75, 0.05, 0.05)


def _kwh(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f} kWh"


@contextmanager
def _language() -> Iterator[None]:
    """English labels when the shipped fonts are missing: Helvetica cannot draw the others."""
    if fonts.fonts().embedded:
        yield
        return
    with translation.override("en"):
        yield


@dataclass
class Page:
    """A canvas with a cursor; x positions are measured from the reading start (mirrored in RTL)."""

    canvas: Canvas
    width: float
    height: float
    rtl: bool
    y: float = 0.0

    def __post_init__(self) -> None:
        self.y = self.height - MARGIN

    @property
    def inner(self) -> float:
        return self.width - 2 * MARGIN

    def x(self, offset: float) -> float:
        """Page x of a point ``offset`` from the start margin."""
        return self.width - MARGIN - offset if self.rtl else MARGIN + offset

    def text(
        self,
        offset: float,
        y: float,
        value: str,
        *,
        size: float = 9,
        bold: bool = False,
        align: str = "start",
        color: colors.Color = colors.black,
        ltr: bool = False,
    ) -> None:
        """Draw ``value`` anchored at ``offset``; ``align`` is start, end or center."""
        parts = fonts.runs(value, bold=bold, rtl=self.rtl and not ltr)
        total = fonts.width(parts, size)
        anchor = self.x(offset)
        if align == "center":
            left = anchor - total / 2
        elif (align == "start") != self.rtl:
            left = anchor
        else:
            left = anchor - total
        c = self.canvas
        c.setFillColor(color)
        c.setStrokeColor(color)
        for part in parts:
            obj = c.beginText(left, y)
            obj.setFont(part.font, size)
            if part.fake_bold:
                c.setLineWidth(size / 30)
                obj.setTextRenderMode(2)
            obj.textOut(part.text)
            c.drawText(obj)
            left += fonts.width([part], size)
        c.setFillColor(colors.black)
        c.setStrokeColor(colors.black)

    def rule(self, y: float, *, weight: float = 0.5) -> None:
        self.canvas.setLineWidth(weight)
        self.canvas.line(MARGIN, y, self.width - MARGIN, y)

    def box(self, offset: float, y: float, w: float, h: float, **kw: Any) -> None:
        left = self.x(offset + w) if self.rtl else self.x(offset)
        self.canvas.roundRect(left, y, w, h, 2 * mm, **kw)

    def qr(self, offset: float, top: float, matrix: Sequence[Sequence[bool]], size: float) -> None:
        """Draw a QR code as vector squares (sharp at any printer resolution); ``offset`` is the
        start edge of its box, ``top`` its upper edge."""
        n = len(matrix)
        module = size / n
        left = self.x(offset + size) if self.rtl else self.x(offset)
        c = self.canvas
        c.setFillColor(colors.black)
        for r, row in enumerate(matrix):
            for col, dark in enumerate(row):
                if dark:
                    c.rect(
                        left + col * module,
                        top - (r + 1) * module,
                        module,
                        module,
                        stroke=0,
                        fill=1,
                    )

    def ensure(self, needed: float, on_new_page: Any = None) -> None:
        if self.y - needed >= MARGIN:
            return
        self.canvas.showPage()
        self.y = self.height - MARGIN
        if on_new_page is not None:
            on_new_page()


def _canvas(buffer: io.BytesIO, size: tuple[float, float], title: str, subject: str) -> Canvas:
    c = Canvas(buffer, pagesize=size, **PDF_OPTIONS)
    c.setTitle(title)
    c.setSubject(subject)
    c.setCreator("gridvend")
    return c


def _banner(page: Page, label: str) -> None:
    """A boxed warning across the page (REPRINT, REVERSED) that a photocopy cannot lose."""
    h = 11 * mm
    page.y -= h
    page.canvas.setStrokeColor(ALERT)
    page.canvas.setLineWidth(2)
    page.box(0, page.y, page.inner, h, stroke=1, fill=0)
    page.canvas.setStrokeColor(colors.black)
    page.text(
        page.inner / 2, page.y + 3.2 * mm, label, size=18, bold=True, align="center", color=ALERT
    )
    page.y -= 4 * mm


def receipt_pdf(data: ReceiptData, *, rtl: bool = False) -> bytes:
    """The receipt on one A4 page (more if a sale has many tokens)."""
    with _language():
        return _receipt_pdf(data, rtl=rtl)


def _receipt_pdf(data: ReceiptData, *, rtl: bool) -> bytes:
    buffer = io.BytesIO()
    w, h = A4
    c = _canvas(buffer, A4, f"{_('Receipt')} {data.receipt_number}", data.utility_name)
    page = Page(c, w, h, rtl)
    qr_size = 32 * mm

    # Heading, with the QR code at the end edge.
    page.text(0, page.y - 6 * mm, data.utility_name, size=17, bold=True)
    point = data.vending_point_name
    if data.vending_point_code:
        point = f"{point} ({data.vending_point_code})"
    page.text(0, page.y - 12 * mm, point, size=10)
    if data.vending_point_address:
        page.text(0, page.y - 17 * mm, data.vending_point_address, size=9, color=GREY)
    page.text(0, page.y - 26 * mm, data.kind_label, size=14, bold=True)
    page.qr(page.inner - qr_size, page.y, data.qr_matrix, qr_size)
    page.text(
        page.inner - qr_size / 2,
        page.y - qr_size - 3.5 * mm,
        data.receipt_number,
        size=7,
        align="center",
        ltr=True,
    )
    page.y -= qr_size + 8 * mm

    if data.is_reprint:
        _banner(page, _("REPRINT"))
    if data.is_copy:
        _banner(page, _("COPY"))
    if data.is_reversed:
        _banner(page, _("REVERSED"))

    facts = [
        (_("Receipt number"), data.receipt_number, True),
        (_("Date and time"), data.issued_at_text, True),
        (_("Meter number"), data.meter_number, True),
        (_("Customer"), data.customer_name, False),
        (_("Account number"), data.account_number, True),
        (_("Premises"), data.premise_address, False),
        (_("Operator"), data.operator_name, False),
        (_("Payment method"), data.payment_method_label, False),
    ]
    if data.reason:
        facts.append((_("Reason"), data.reason, False))
    for label, value, ltr in facts:
        if not value:
            continue
        page.y -= 5.5 * mm
        page.text(0, page.y, label, size=9, color=GREY)
        page.text(45 * mm, page.y, value, size=10, ltr=ltr)
    page.y -= 6 * mm

    # The token box: what the customer types in, large, in order.
    token_h = 9 * mm + 17 * mm * len(data.tokens)
    page.ensure(token_h + 20 * mm)
    top = page.y
    page.y -= token_h
    c.setLineWidth(1.6)
    page.box(0, page.y, page.inner, token_h, stroke=1, fill=0)
    ty = top - 6 * mm
    label = _("Tokens — enter them in this order") if len(data.tokens) > 1 else _("Token")
    page.text(4 * mm, ty, label, size=9, bold=True)
    if data.tokens_masked:
        note = _("Token digits are hidden: only the last four are shown.")
        page.text(page.inner - 4 * mm, ty, note, size=8, align="end", color=GREY)
    for token in data.tokens:
        ty -= 5 * mm
        details = [f"{token.sequence}. {token.kind_label}"]
        if token.units is not None:
            details.append(_kwh(token.units) if token.is_energy else f"{token.units:f}")
        if token.tid is not None:
            details.append(f"TID {token.tid}")
        page.text(4 * mm, ty, " · ".join(details), size=8.5, color=GREY)
        ty -= 10 * mm
        page.text(page.inner / 2, ty, token.grouped, size=22, bold=True, align="center", ltr=True)
        ty -= 2 * mm
    page.y -= 7 * mm
    if data.total_kwh:
        page.text(0, page.y, _("Total energy"), size=10, bold=True)
        page.text(
            page.inner, page.y, _kwh(data.total_kwh), size=10, bold=True, align="end", ltr=True
        )
        page.y -= 7 * mm

    if data.has_breakdown or data.tender:
        _breakdown(page, data)

    page.text(
        page.inner / 2,
        MARGIN - 6 * mm,
        _("Keep this receipt. Tokens are not refundable."),
        size=8,
        align="center",
        color=GREY,
    )
    c.showPage()
    c.save()
    return buffer.getvalue()


def _breakdown(page: Page, data: ReceiptData) -> None:
    lines: list[tuple[str, str, str, bool]] = []  # label, detail, amount, bold
    for fixed in data.fixed_charges:
        lines.append((fixed.name, f"× {fixed.periods}", str(fixed.amount), False))
    if data.debt_recovered:
        lines.append((_("Debt recovered"), "", str(data.debt_recovered), False))
    for tax in data.taxes:
        detail = f"{tax.rate_percent}%"
        if tax.inclusive:
            detail = _("%(rate)s%% (included)") % {"rate": tax.rate_percent}
        lines.append((tax.code, detail, str(tax.amount), False))
    for block in data.energy:
        detail = f"{block.kwh:f} kWh × {block.rate:f}"
        lines.append(
            (_("Energy, block %(n)s") % {"n": block.block}, detail, str(block.amount), False)
        )
    if data.fbe_kwh:
        lines.append(
            (_("Free basic electricity"), _kwh(data.fbe_kwh), str(Money(0, data.currency)), False)
        )
    lines.append((_("Amount tendered"), data.payment_method_label, str(data.tender), True))
    if data.payment_reference:
        lines.append((_("Payment reference"), data.payment_reference, "", False))
    if data.cash_received is not None and data.change is not None:
        lines.append((_("Cash received"), "", str(data.cash_received), False))
        lines.append((_("Change due"), "", str(data.change), False))
    page.ensure(8 * mm + 6 * mm * len(lines))
    page.y -= 2 * mm
    page.text(0, page.y, _("Breakdown"), size=11, bold=True)
    page.y -= 2 * mm
    page.rule(page.y)
    for label, detail, amount, bold in lines:
        page.y -= 6 * mm
        if bold:
            page.rule(page.y + 4.3 * mm, weight=0.8)
        page.text(0, page.y, label, size=10, bold=bold)
        page.text(80 * mm, page.y, detail, size=9, color=GREY, ltr=not detail[:1].isalpha())
        page.text(page.inner, page.y, amount, size=10, bold=bold, align="end", ltr=True)


# --- Z report -----------------------------------------------------------------------------------


def shift_report_pdf(data: ShiftReportData, *, rtl: bool = False) -> bytes:
    with _language():
        return _shift_report_pdf(data, rtl=rtl)


def _shift_report_pdf(data: ShiftReportData, *, rtl: bool) -> bytes:
    buffer = io.BytesIO()
    size = landscape(A4)
    title = _("Shift report %(id)s") % {"id": data.shift_id}
    c = _canvas(buffer, size, title, data.utility_name)
    page = Page(c, size[0], size[1], rtl)
    inner = page.inner
    # (heading, offset, align); widths add up to the printable width of landscape A4.
    columns = [
        (_("Time"), 0.0, "start"),
        (_("Receipt number"), 0.17, "start"),
        (_("Meter"), 0.33, "start"),
        (_("Kind"), 0.46, "start"),
        (_("Tender type"), 0.63, "start"),
        (_("Amount"), 0.84, "end"),
        (_("kWh"), 0.91, "end"),
        (_("Status"), 0.92, "start"),
    ]
    if data.blind:
        columns = [col for col in columns if col[1] != 0.84]

    def header() -> None:
        page.y -= 5 * mm
        for heading, at, align in columns:
            page.text(inner * at, page.y, heading, size=8, bold=True, align=align)
        page.y -= 2 * mm
        page.rule(page.y)

    page.text(0, page.y - 6 * mm, data.utility_name, size=15, bold=True)
    page.text(inner, page.y - 6 * mm, title, size=13, bold=True, align="end")
    page.y -= 13 * mm
    if data.is_force_closed:
        _banner(page, _("FORCE-CLOSED: NO CASH COUNT WAS MADE"))
        page.y -= 2 * mm
    closed = data.closed_at_text or _("Still open: figures so far")
    if data.closed_by_name:
        closed = f"{closed} · {data.closed_by_name}"
    facts = [
        (_("Vending point"), f"{data.vending_point_name} ({data.vending_point_code})"),
        (_("Operator"), data.operator_name),
        (_("Opened"), data.opened_at_text),
        (_("Closed"), closed),
        (_("Opening float"), str(data.opening_float)),
    ]
    if data.is_force_closed:
        facts.append((_("Force-closed"), data.force_close_reason))
    if data.signed_off_by_name:
        signed = f"{data.signed_off_by_name} · {data.signed_off_at_text}"
        if data.sign_off_note:
            signed = f"{signed} · {data.sign_off_note}"
        facts.append((_("Signed off"), signed))
    for label, value in facts:
        page.text(0, page.y, label, size=9, color=GREY)
        page.text(40 * mm, page.y, value, size=9)
        page.y -= 5 * mm
    header()
    for row in data.rows:
        page.ensure(6 * mm, header)
        page.y -= 5 * mm
        color = ALERT if row.is_reversed else colors.black
        cells = [
            (row.time_text, True),
            (row.reference, True),
            (row.meter_number, True),
            (row.kind_label, False),
            (
                f"{row.payment_method_label} {row.payment_reference}".strip(),
                False,
            ),
            (str(row.tender), True),
            (f"{row.kwh:f}", True),
            (row.status_label, False),
        ]
        if data.blind:
            del cells[5]
        for (value, ltr), (_heading, at, align) in zip(cells, columns, strict=True):
            offset = inner * at + (2 * mm if at == 0.92 else 0)
            page.text(offset, page.y, value, size=8, align=align, color=color, ltr=ltr)
    if not data.rows:
        page.y -= 5 * mm
        page.text(0, page.y, _("No sales in this shift."), size=9, color=GREY)
    page.y -= 3 * mm
    page.rule(page.y)
    if data.blind:
        page.y -= 7 * mm
        page.text(
            0,
            page.y,
            _("Blind count: what the drawer should hold is shown once the shift is closed."),
            size=9,
        )
    else:
        _z_totals(page, data)
    page.ensure(20 * mm)
    page.y -= 12 * mm
    for offset, label in ((0, _("Cashier's signature")), (130 * mm, _("Supervisor's signature"))):
        c.setLineWidth(0.5)
        x1, x2 = page.x(offset), page.x(offset + 90 * mm)
        c.line(min(x1, x2), page.y + 4 * mm, max(x1, x2), page.y + 4 * mm)
        page.text(offset, page.y, label, size=8, color=GREY)
    c.showPage()
    c.save()
    return buffer.getvalue()


Row = tuple[list[str], bool, colors.Color]  # cells, bold, colour of the last figure


def _table(page: Page, title: str, headings: list[tuple[str, float]], rows: list[Row]) -> None:
    """A summary table: the first heading names the label column, the others end at their
    offsets with right-aligned figures; only the last figure of a row may be in colour."""
    page.ensure(14 * mm + 5 * mm * len(rows))
    page.y -= 7 * mm
    page.text(0, page.y, title, size=10, bold=True)
    page.y -= 5 * mm
    page.text(0, page.y, headings[0][0], size=8, bold=True)
    for heading, at in headings[1:]:
        page.text(at, page.y, heading, size=8, bold=True, align="end")
    page.y -= 1.5 * mm
    page.rule(page.y, weight=0.3)
    for cells, bold, last_color in rows:
        page.y -= 5 * mm
        page.text(0, page.y, cells[0], size=9, bold=bold)
        figures = list(zip(cells[1:], headings[1:], strict=True))
        for i, (value, (_heading, at)) in enumerate(figures):
            color = last_color if i == len(figures) - 1 else colors.black
            if value:
                page.text(at, page.y, value, size=9, bold=bold, align="end", ltr=True, color=color)


def _z_totals(page: Page, data: ShiftReportData) -> None:
    """Gross, reversed and net per kind; refunds paid from the drawer; the count per tender."""
    black = colors.black
    kinds: list[Row] = [
        (
            [
                k.label,
                str(k.count),
                str(k.amount),
                str(k.reversed_count),
                str(k.reversed_amount),
                str(k.net_count),
                str(k.net_amount),
            ],
            False,
            black,
        )
        for k in data.kinds
    ]
    kinds.append(
        (
            [
                _("All sales"),
                str(data.gross_count),
                str(data.gross_total),
                str(data.reversed_count),
                str(data.reversed_total),
                str(data.net_count),
                str(data.net_total),
            ],
            True,
            black,
        )
    )
    kinds.append(([_("Energy sold"), "", "", "", "", "", f"{data.kwh_total:f} kWh"], False, black))
    _table(
        page,
        _("Totals by kind"),
        [
            (_("Kind"), 0),
            (_("Count"), 75 * mm),
            (_("Gross"), 110 * mm),
            (_("Reversed"), 135 * mm),
            (_("Reversed amount"), 170 * mm),
            (_("Net count"), 195 * mm),
            (_("Net"), 230 * mm),
        ],
        kinds,
    )
    if data.refunds:
        refunds: list[Row] = [
            (
                [f"{r.reference} · {r.payment_method_label}", r.time_text, str(r.amount)],
                False,
                black,
            )
            for r in data.refunds
        ]
        refunds.append(([_("Refunded"), "", str(data.refunds_total)], True, black))
        _table(
            page,
            _("Refunds of sales from earlier shifts, paid from this drawer"),
            [(_("Receipt number"), 0), (_("Time"), 150 * mm), (_("Amount"), 230 * mm)],
            refunds,
        )
    tenders: list[Row] = []
    not_counted = _("Not counted")
    for line in data.tenders:
        if data.is_counted:
            counted = str(line.counted)
            difference = str(line.difference)
        elif data.is_force_closed:
            counted, difference = not_counted, ""
        else:
            counted, difference = "", ""
        tenders.append(
            ([line.label, str(line.takings), str(line.expected), counted, difference], False, black)
        )
    if data.is_counted:
        total_counted, total_difference = str(data.counted_total), str(data.over_short)
    elif data.is_force_closed:
        total_counted, total_difference = not_counted, ""
    else:
        total_counted, total_difference = "", ""
    tenders.append(
        (
            [
                _("Net takings"),
                str(data.net_takings),
                str(data.expected_total),
                total_counted,
                total_difference,
            ],
            True,
            ALERT if data.over_short else black,
        )
    )
    _table(
        page,
        _("By tender type"),
        [
            (_("Tender type"), 0),
            (_("Takings"), 110 * mm),
            (_("Expected"), 150 * mm),
            (_("Counted"), 190 * mm),
            (_("Over/short"), 230 * mm),
        ],
        tenders,
    )
    if data.close_note:
        page.y -= 8 * mm
        page.text(0, page.y, f"{_('Note')}: {data.close_note}", size=9)
