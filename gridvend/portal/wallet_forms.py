"""The portal's wallet forms: every field bounded before any use case sees it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import MONEY, NumberRule, parse_decimal
from gridvend.kernel.money import Money, currency_exponent

# ASCII digits only, like every number the forms read (re.ASCII: no Arabic-Indic digits).
MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
# Statements go back this many years at most.
OLDEST_YEAR = 2000
# The wallet page shows this many movements a page, and at most this many pages.
PER_PAGE = 20
MAX_PAGE = 1000


def money_rule(currency: str, maximum_minor: int) -> NumberRule:
    """The money rule in the currency's own decimals (KES 2, UGX 0), at most ``maximum_minor``
    minor units: an amount the form takes always converts to exact minor units."""
    return replace(
        MONEY,
        decimal_places=currency_exponent(currency),
        maximum=Money(int(maximum_minor), currency).to_major(),
    )


def top_up_maximum(currency: str) -> Money:
    """The largest top-up (GRIDVEND_WALLET_TOP_UP_MAX_MINOR, minor units) in ``currency``."""
    return Money(int(settings.WALLET_TOP_UP_MAX_MINOR), currency)


def _amount(raw: str, currency: str, maximum_minor: int) -> Decimal:
    try:
        value = parse_decimal(raw, money_rule(currency, maximum_minor), field="amount")
    except DomainError as exc:
        raise forms.ValidationError(exc.message) from None
    if value <= 0:
        raise forms.ValidationError(_("Enter an amount above zero."))
    return value


class TopUpForm(forms.Form):
    amount = forms.CharField(label=_("Amount"), max_length=20)
    method = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)
    phone = forms.CharField(
        label=_("Phone that pays (mobile money)"), max_length=20, required=False
    )
    request_id = forms.CharField(max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args: Any, providers: list[str], currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].help_text = gettext("At most %(maximum)s.") % {
            "maximum": top_up_maximum(currency).format()
        }
        field = self.fields["method"]
        assert isinstance(field, forms.ChoiceField)
        choices = [(f"card:{code}", _("Card (the payment page)")) for code in providers]
        field.choices = [*choices, ("mobile_money", _("Mobile money (a prompt on the phone)"))]
        field.initial = field.choices[0][0]

    def clean_amount(self) -> Decimal:
        return _amount(
            self.cleaned_data["amount"], self.currency, int(settings.WALLET_TOP_UP_MAX_MINOR)
        )


class PageForm(forms.Form):
    """The wallet page's query string: the page of movements and the month of the statement."""

    page = forms.IntegerField(min_value=1, max_value=MAX_PAGE, required=False)
    month = forms.CharField(label=_("Month"), max_length=7, required=False)

    def clean_month(self) -> date | None:
        raw = self.cleaned_data.get("month") or ""
        if not raw:
            return None
        found = MONTH.fullmatch(raw)
        today = timezone.localdate()
        if found is None or not 1 <= int(found.group(2)) <= 12:
            raise forms.ValidationError(_("Choose a month as year-month, e.g. 2026-03."))
        month = date(int(found.group(1)), int(found.group(2)), 1)
        if not date(OLDEST_YEAR, 1, 1) <= month <= today.replace(day=1):
            raise forms.ValidationError(_("Choose a month that has begun."))
        return month


class AutoPurchaseForm(forms.Form):
    enabled = forms.BooleanField(label=_("Buy a token by itself after a top-up"), required=False)
    meter = forms.ChoiceField(label=_("Meter"), required=False)
    threshold = forms.CharField(
        label=_("When the wallet holds at least"), max_length=20, required=False
    )
    amount = forms.CharField(label=_("Buy for"), max_length=20, required=False)

    def __init__(self, *args: Any, meters: list[str], currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        field = self.fields["meter"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(number, number) for number in meters]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("enabled"):
            return data
        for name in ("meter", "threshold", "amount"):
            raw = data.get(name)
            if not raw:
                if name not in self.errors:
                    self.add_error(name, _("This field is required."))
                continue
            if name != "meter":
                try:
                    data[name] = _amount(
                        str(raw), self.currency, int(settings.WALLET_TOP_UP_MAX_MINOR)
                    )
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        return data


class BillPayForm(forms.Form):
    """Pay a postpaid account from its customer's wallet: the amount (billing bounds it again)."""

    amount = forms.CharField(label=_("Amount to pay from the wallet"), max_length=20)
    request_id = forms.CharField(max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> Decimal:
        return _amount(
            self.cleaned_data["amount"], self.currency, int(settings.BILL_PAYMENT_MAX_MINOR)
        )
