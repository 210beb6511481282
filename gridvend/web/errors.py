"""Refusals in the user's language: domain errors carry a stable code and params; the screens
turn them into translated sentences here, in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from gridvend.kernel.errors import DomainError

_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "METER_NOT_FOUND": lambda p: (
        _("No meter %(meter)s was found. Check the number and try again.")
        % {"meter": p.get("meter_number", "")}
    ),
    "METER_BLOCKED": lambda p: (
        _("Meter %(meter)s is blocked. Tokens cannot be sold for it.")
        % {"meter": p.get("meter_number", "")}
    ),
    "METER_RETIRED": lambda p: (
        _("Meter %(meter)s has been taken out of service.") % {"meter": p.get("meter_number", "")}
    ),
    "METER_FAULTY": lambda p: (
        _("Meter %(meter)s is registered as faulty.") % {"meter": p.get("meter_number", "")}
    ),
    "METER_NOT_INSTALLED": lambda p: (
        _("Meter %(meter)s is not installed for any customer.")
        % {"meter": p.get("meter_number", "")}
    ),
    "CUSTOMER_NOT_ACTIVE": lambda p: _("The customer account is not active."),
    "AMOUNT_BELOW_MINIMUM": lambda p: (
        _("The amount is too small. The smallest sale is %(min)s.") % {"min": p.get("minimum", "")}
    ),
    "AMOUNT_ABOVE_MAXIMUM": lambda p: (
        _("The amount is too large. The largest sale is %(max)s.") % {"max": p.get("maximum", "")}
    ),
    "TENDER_BELOW_CHARGES_DUE": lambda p: (
        _("The amount does not cover the charges owed on this meter. Pay at least %(min)s.")
        % {"min": p.get("required_minimum", "")}
    ),
    "TARIFF_NOT_FOUND": lambda p: _("No tariff is in force for this customer. Ask a manager."),
    "KEY_REVISION_EXPIRED": lambda p: _(
        "This meter's key has expired. It needs a key change before tokens can be sold."
    ),
    "KEY_CHANGE_SAME_KEY": lambda p: (
        _(
            "The new key parameters of meter %(meter)s give the same decoder key as the current "
            "ones. Change the key revision number (KRN) or the vending key as well."
        )
        % {"meter": p.get("meter_number", "")}
    ),
    "DUPLICATE_REQUEST": lambda p: _("This request was already used for a different sale."),
    "INSUFFICIENT_FLOAT": lambda p: _("There is not enough float for this sale."),
    "INVALID_AMOUNT": lambda p: _("The amount is not valid."),
    "INVALID_INPUT": lambda p: _invalid_input(p),
    "CURRENCY_MISMATCH": lambda p: _("The amount is in the wrong currency."),
    "SHIFT_NOT_OPEN": lambda p: _("Open a shift at this vending point before selling."),
    "PRINTER_UNAVAILABLE": lambda p: _(
        "The receipt printer did not answer and nothing was printed. Check that it is on and "
        "has paper, then print again: the receipt will say REPRINT."
    ),
    "PRINTER_NOT_CONFIGURED": lambda p: _("No receipt printer is set up for this vending point."),
    "SHIFT_CLOSED": lambda p: _("This shift is closed."),
    "SHIFT_ALREADY_OPEN": lambda p: _("You already have an open shift; close it first."),
    "PERMISSION_DENIED": lambda p: _("You are not allowed to do this."),
    "NOT_FOUND": lambda p: _("Not found, or outside your part of the organisation."),
    "VENDING_POINT_INACTIVE": lambda p: _("This vending point is not active; it cannot sell."),
    "VENDING_POINT_ADDRESS_REFUSED": lambda p: _(
        "Sales from this network address are not allowed at this vending point."
    ),
    "REASON_REQUIRED": lambda p: _("A reason is required."),
}


def _invalid_input(params: dict[str, Any]) -> str:
    from gridvend.kernel.inputs import InvalidInput
    from gridvend.web.fields import message

    if params.get("reason") == "invalid_filter":
        return _("The filter %(field)s is not valid: %(problem)s") % {
            "field": params.get("field", ""),
            "problem": params.get("problem", ""),
        }
    error = InvalidInput(
        reason=str(params.get("reason", "")),
        message="",
        **{k: v for k, v in params.items() if k not in ("reason", "field")},
    )
    return message(error)


def describe(error: DomainError) -> str:
    """A translated sentence for the error; unknown codes fall back to the domain's message."""
    build = _MESSAGES.get(error.code)
    if build is None:
        return error.message
    return build(error.params)
