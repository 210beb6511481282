"""The receipt as ESC/POS bytes for a thermal printer on the network, and the raw TCP job that
prints it (no dialogue, no driver): text in the printer's standard code page, the QR code by
the printer's own QR command, then feed and cut.

The few commands used are written out here rather than taken from python-escpos, which would
bring USB, serial, barcode-image and YAML dependencies for about sixty lines of documented bytes.

Text mode prints the Latin code page every ESC/POS printer has (PC437): the labels are printed
in English, and characters outside it (Arabic or Chinese names) come out as "?". An Arabic or
Chinese slip is printed by the browser route (docs/cashier.md).
"""

from __future__ import annotations

import socket
import textwrap
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from gridvend.configuration import NetworkPrinter
from gridvend.web.errors import PrinterUnavailable
from gridvend.web.numbers import kwh_text, rate_text
from gridvend.web.receipts.render import ReceiptData

ESC, GS = b"\x1b", b"\x1d"
INIT = ESC + b"@"
CODE_PAGE = ESC + b"t\x00"  # PC437, the code page every ESC/POS printer starts with
ENCODING = "cp437"
# GS V 66 n: feed n lines (past the cutter), then a partial cut.
CUT = GS + b"VB\x03"
COLUMNS = 48  # Font A on 80 mm paper (72 mm printable)
TIMEOUT_SECONDS = 5.0
LEFT, CENTER, RIGHT = 0, 1, 2

# Characters a receipt uses that PC437 lacks, as the printer can print them.
_PLAIN = str.maketrans({"×": "x", "—": "-", "–": "-", "’": "'", "“": '"', "”": '"', "…": "..."})


def printer_for(point_code: str) -> NetworkPrinter | None:
    """The vending point's own printer, else the default one, else None."""
    printers: dict[str, NetworkPrinter] = settings.ESCPOS_PRINTERS
    return printers.get(point_code) or printers.get("")


def qr_code(data: bytes, *, module: int = 6) -> bytes:
    """GS ( k: a model 2 QR code of ``data``, error correction M, printed where the line is."""
    stored = len(data) + 3
    return b"".join(
        [
            GS + b"(k\x04\x001A2\x00",  # model 2
            GS + b"(k\x03\x001C" + bytes([module]),  # module size in dots
            GS + b"(k\x03\x001E1",  # error correction M (the receipt's QR recipe)
            GS + b"(k" + bytes([stored % 256, stored // 256]) + b"1P0" + data,  # store
            GS + b"(k\x03\x001Q0",  # print
        ]
    )


@dataclass
class Slip:
    """Lines of text for a ``COLUMNS``-wide roll, with the few styles a receipt needs."""

    columns: int = COLUMNS
    parts: list[bytes] = field(default_factory=lambda: [INIT, CODE_PAGE])

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def _encode(self, text: str) -> bytes:
        return text.translate(_PLAIN).encode(ENCODING, errors="replace")

    def line(
        self, text: str = "", *, align: int = LEFT, bold: bool = False, tall: bool = False
    ) -> None:
        self.raw(ESC + b"a" + bytes([align]))
        if bold:
            self.raw(ESC + b"E\x01")
        if tall:
            self.raw(GS + b"!\x01")  # double height, normal width: 24 digits still fit
        for piece in textwrap.wrap(text, self.columns) or [""]:
            self.raw(self._encode(piece) + b"\n")
        if tall:
            self.raw(GS + b"!\x00")
        if bold:
            self.raw(ESC + b"E\x00")

    def pair(self, label: str, value: str, *, bold: bool = False) -> None:
        """``label`` at the left and ``value`` at the right; a long value goes under it."""
        if not value:
            return
        if len(label) + 1 + len(value) <= self.columns:
            self.line(label + " " * (self.columns - len(label) - len(value)) + value, bold=bold)
            return
        self.line(label, bold=bold)
        for piece in textwrap.wrap(value, self.columns):
            self.line(piece.rjust(self.columns), bold=bold)

    def rule(self) -> None:
        self.line("-" * self.columns)

    def banner(self, text: str) -> None:
        self.line(f"*** {text} ***", align=CENTER, bold=True, tall=True)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def encode(data: ReceiptData, *, columns: int = COLUMNS) -> bytes:
    """The receipt as one ESC/POS print job, ending with the cut."""
    with translation.override("en"):
        return _encode(data, columns)


def _encode(r: ReceiptData, columns: int) -> bytes:
    slip = Slip(columns=columns)
    slip.line(r.utility_name, align=CENTER, bold=True, tall=True)
    slip.line(r.vending_point_name, align=CENTER)
    if r.vending_point_code:
        slip.line(r.vending_point_code, align=CENTER)
    if r.vending_point_address:
        slip.line(r.vending_point_address, align=CENTER)
    if r.tax_registration_number:
        slip.line(f"{_('Tax registration number')}: {r.tax_registration_number}", align=CENTER)
    slip.line()
    if r.is_reprint:
        slip.banner(_("REPRINT"))
    if r.is_copy:
        slip.banner(_("COPY"))
        slip.line(_("A copy for viewing, not the original receipt."), align=CENTER)
    if r.is_reversed:
        slip.banner(_("REVERSED"))
    slip.line(r.kind_label, align=CENTER, bold=True)
    slip.pair(_("Receipt number"), r.receipt_number)
    slip.pair(_("Date and time"), r.issued_at_text)
    slip.pair(_("Meter number"), r.meter_number, bold=True)
    slip.pair("SGC / TI / KRN", r.meter_key_text)
    slip.pair(_("Customer"), r.customer_name)
    slip.pair(_("Account number"), r.account_number)
    slip.pair(_("Premises"), r.premise_address)
    slip.pair(_("Tariff"), r.tariff_name)
    slip.pair(_("Reason"), r.reason)
    slip.rule()
    if r.tokens_masked:
        slip.line(_("Token digits are hidden: only the last four are shown."))
    if len(r.tokens) > 1:
        slip.line(_("Enter the tokens in this order:"), bold=True)
    for token in r.tokens:
        details = []
        if token.units is not None:
            details.append(f"{kwh_text(token.units)} kWh" if token.is_energy else f"{token.units}")
        if token.tid is not None:
            details.append(f"TID {token.tid}")
        slip.pair(f"{token.sequence}. {token.kind_label}", " · ".join(details))
        slip.line(token.grouped, align=CENTER, bold=True, tall=True)
    if not r.tokens:
        slip.line(_("This sale has no tokens."))
    if r.total_kwh:
        slip.pair(_("Total energy"), f"{kwh_text(r.total_kwh)} kWh", bold=True)
    slip.rule()
    if r.has_breakdown or r.tender:
        for charge in r.fixed_charges:
            slip.pair(f"{charge.name} x {charge.periods}", str(charge.amount))
        if r.debt_recovered:
            slip.pair(_("Debt recovered"), str(r.debt_recovered))
        for tax in r.taxes:
            included = f" ({_('included')})" if tax.inclusive else ""
            slip.pair(f"{tax.code} {tax.rate_percent}%{included}", str(tax.amount))
        for block in r.energy:
            label = _("Energy, block %(n)s") % {"n": block.block}
            slip.pair(label, str(block.amount))
            slip.line(f"  {kwh_text(block.kwh)} kWh x {rate_text(block.rate, r.currency)}")
        if r.fbe_kwh:
            slip.pair(_("Free basic electricity"), f"{kwh_text(r.fbe_kwh)} kWh")
        slip.pair(_("Amount tendered"), str(r.tender), bold=True)
        slip.pair(_("Payment method"), r.payment_method_label)
        slip.pair(_("Payment reference"), r.payment_reference)
        if r.cash_received is not None:
            slip.pair(_("Cash received"), str(r.cash_received))
            slip.pair(_("Change due"), str(r.change), bold=True)
        if r.shows_debt:
            slip.pair(_("Debt owed"), str(r.debt_balance_after))
        slip.rule()
    if r.operator_name:
        slip.line(f"{_('Served by')}: {r.operator_name}", align=CENTER)
    slip.raw(ESC + b"a\x01")
    slip.raw(qr_code(r.qr_text.encode("ascii")))
    slip.line(r.receipt_number, align=CENTER)
    if r.helpline:
        slip.line(f"{_('Helpline')}: {r.helpline}", align=CENTER)
    slip.line(_("Keep this receipt. Tokens are not refundable."), align=CENTER)
    slip.raw(CUT)
    return slip.bytes()


def send(printer: NetworkPrinter, payload: bytes, *, timeout: float = TIMEOUT_SECONDS) -> None:
    """One raw print job over TCP (the printer's port 9100 service takes whatever it is sent)."""
    try:
        with socket.create_connection((printer.host, printer.port), timeout=timeout) as link:
            link.sendall(payload)
            link.shutdown(socket.SHUT_WR)
    except OSError as exc:
        raise PrinterUnavailable(printer, exc.__class__.__name__) from exc
