"""Template filters for money in minor units, kWh, tokens in groups of four and phones."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings

from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.kernel.phones import display_phone
from gridvend.vending.models import Token
from gridvend.vending.visibility import mask, shown_digits
from gridvend.web.numbers import kwh_text, rate_text

register = template.Library()


@register.filter
def money(minor: Any, currency: str = "") -> str:
    """`{{ sale.tender_minor|money:sale.currency }}` → "KES 1,250.50"."""
    if minor in (None, ""):
        return ""
    return Money(int(minor), currency or settings.CURRENCY).format()


def _cash_figure_label(figure: str) -> str:
    from django.utils.translation import gettext

    kind = figure.rsplit("_", 1)[0]
    labels = {"collections": "Collections", "sales": "Cash sales", "reversals": "Reversals"}
    return gettext(labels[kind]) if kind in labels else ""


def _cash_value(figure: str, value: Any, currency: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return ""
    return money(value, currency) if figure.endswith("_minor") else str(value)


@register.filter
def cash_difference(difference: Any, currency: str = "") -> str:
    """A cash reconciliation's difference ``{"figure", "gateway", "ledger"}`` as a clerk reads
    it: "Collections: KES 300.00 / KES 1,200.00" (a count stays a count)."""
    if not isinstance(difference, dict):
        return ""
    figure = str(difference.get("figure", ""))
    return (
        f"{_cash_figure_label(figure)}: {_cash_value(figure, difference.get('gateway'), currency)}"
        f" / {_cash_value(figure, difference.get('ledger'), currency)}"
    )


@register.filter
def cash_figures(figures: Any, currency: str = "") -> str:
    """A day end's figures as "Collections 2 / KES 1,200.00 · Cash sales 0 / KES 0.00 · …"."""
    if not isinstance(figures, dict):
        return ""
    parts = []
    for kind in ("collections", "sales", "reversals"):
        count = _cash_value(f"{kind}_count", figures.get(f"{kind}_count"), currency)
        amount = _cash_value(f"{kind}_minor", figures.get(f"{kind}_minor"), currency)
        parts.append(f"{_cash_figure_label(kind + '_count')} {count} / {amount}")
    return " · ".join(parts)


@register.filter
def phone(stored: Any) -> str:
    """`{{ customer.phone|phone }}`: a stored E.164 number as people read it, "0745 275900" in
    the utility's own country and "+44 20 7946 0958" from elsewhere (storage stays E.164)."""
    if not stored:
        return ""
    return display_phone(str(stored), region=settings.DEFAULT_COUNTRY)


@register.filter
def kwh(value: Any) -> str:
    """`{{ sale.kwh|kwh }}` → "19.4 kWh" (a tenth, rounded half up)."""
    text = kwh_text(value)
    return f"{text} kWh" if text else ""


@register.filter
def kwh_value(value: Any) -> str:
    """`{{ row.kwh|kwh_value }}` → "19.4", for a column headed kWh."""
    return kwh_text(value)


@register.filter
def rate(value: Any, currency: str = "") -> str:
    """`{{ block.rate|rate:currency }}` → "12.00": a rate per kWh as its tariff set it."""
    return rate_text(value, currency or settings.CURRENCY)


@register.filter
def token(digits: str) -> str:
    text = str(digits)
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@register.filter
def digits_for(stored: Token, user: Any) -> str:
    """`{{ t|digits_for:user }}`: the token's digits as the signed-in user may see them (the last
    four only, unless they sold it or may see tokens). Never print ``t.digits`` in a template."""
    if not isinstance(user, User):
        return mask(stored.digits)
    return shown_digits(user, stored)


@register.filter
def token_for(stored: Token, user: Any) -> str:
    """`{{ t|token_for:user }}`: ``digits_for`` in groups of four."""
    return token(digits_for(stored, user))


@register.filter
def styled(field: Any) -> Any:
    """Render a form field with Bootstrap's class for its widget type."""
    widget = field.field.widget
    input_type = getattr(widget, "input_type", "")
    if input_type in ("checkbox", "radio"):
        css = "form-check-input"
    elif widget.__class__.__name__ in ("Select", "SelectMultiple"):
        css = "form-select"
    else:
        css = "form-control"
    existing = widget.attrs.get("class", "")
    return field.as_widget(attrs={"class": f"{existing} {css}".strip()})


@register.filter
def percent(rate: Any) -> str:
    """A rate such as Decimal("0.16") as "16%"."""
    if rate in (None, ""):
        return ""
    value = (Decimal(str(rate)) * 100).normalize()
    return f"{value:f}%"


@register.filter
def tender(method: Any) -> str:
    """A tender type's code (``mobile_money``) as its translated name ("Mobile money")."""
    from gridvend.vending.models import payment_method_label

    return payment_method_label(str(method or ""))
