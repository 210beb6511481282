"""The HTML channel's error mapper: a domain error becomes a sentence in the user's language here.

The sentence is the catalogue's template for the code, rendered with the error's params
(``gridvend.errors``), so a screen, an import report and a 400 page all word a refusal the same
way. A JSON mapper for the API renders ``DomainError.as_dict()`` the same way.
"""

from __future__ import annotations

from enum import StrEnum

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


def describe(error: DomainError) -> str:
    """A translated sentence for the error, rendered from its code and params."""
    return error.message
