"""The HTML channel's error mapper: a domain error becomes a sentence in the user's language here.

The sentence is the catalogue's template for the code, rendered with the error's params
(``gridvend.errors``), so a screen, an import report and a 400 page all word a refusal the same
way. A JSON mapper for the API renders ``DomainError.as_dict()`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import gridvend.errors  # noqa: F401  (gives the kernel's codes their translated templates)
from gridvend.configuration import NetworkPrinter
from gridvend.kernel.errors import DomainError


class WebErrorCode(StrEnum):
    PRINTER_UNAVAILABLE = "PRINTER_UNAVAILABLE"
    PRINTER_NOT_CONFIGURED = "PRINTER_NOT_CONFIGURED"


class PrinterUnavailable(DomainError):
    code = WebErrorCode.PRINTER_UNAVAILABLE
    message_template = gettext_lazy(
        "The receipt printer did not answer and nothing was printed. Check that it is on and "
        "has paper, then print again: the receipt will say REPRINT."
    )

    def __init__(self, printer: NetworkPrinter, reason: str) -> None:
        super().__init__(printer=str(printer), reason=reason)


class PrinterNotConfigured(DomainError):
    code = WebErrorCode.PRINTER_NOT_CONFIGURED
    message_template = gettext_lazy("No receipt printer is set up for this vending point.")

    def __init__(self, point_code: str) -> None:
        super().__init__(point_code=point_code)


# Codes the vending services still raise with a fixed message (``VendingRefused(code, message)``):
# the screens have always shown these sentences for them. They move to the templates of
# ``gridvend/vending/errors.py`` when vending declares its error classes (docs/errors.md).
_VENDING_WORDING: dict[str, Callable[[dict[str, Any]], str]] = {
    "METER_FAULTY": lambda p: (
        _("Meter %(meter)s is registered as faulty.") % {"meter": p.get("meter_number", "")}
    ),
    "METER_NOT_INSTALLED": lambda p: (
        _("Meter %(meter)s is not installed for any customer.")
        % {"meter": p.get("meter_number", "")}
    ),
    "CUSTOMER_NOT_ACTIVE": lambda p: _("The customer account is not active."),
    "SHIFT_NOT_OPEN": lambda p: _("Open a shift at this vending point before selling."),
    "SHIFT_CLOSED": lambda p: _("This shift is closed."),
    "SHIFT_ALREADY_OPEN": lambda p: _("You already have an open shift; close it first."),
    "VENDING_POINT_INACTIVE": lambda p: _("This vending point is not active; it cannot sell."),
    "VENDING_POINT_ADDRESS_REFUSED": lambda p: _(
        "Sales from this network address are not allowed at this vending point."
    ),
    "REASON_REQUIRED": lambda p: _("A reason is required."),
}


def describe(error: DomainError) -> str:
    """A translated sentence for the error, rendered from its code and params."""
    if not error.renders_from_catalogue:
        wording = _VENDING_WORDING.get(error.code)
        if wording is not None:
            return wording(error.params)
    return error.message
