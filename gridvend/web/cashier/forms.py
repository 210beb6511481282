"""Forms of the cashier screen: parsing only; amounts become Money in the view's currency."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.utils.translation import gettext_lazy as _

from gridvend.vending.shifts import TENDER_TYPES

PAYMENT_CHOICES = [
    ("cash", _("Cash")),
    ("card", _("Card")),
    ("cheque", _("Cheque")),
    ("transfer", _("Bank transfer")),
    ("mobile_money", _("Mobile money")),
]


def parse_decimal(raw: str) -> Decimal | None:
    text = raw.strip().replace(",", "").replace(" ", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise forms.ValidationError(_("Enter a number.")) from None
    if not value.is_finite() or value <= 0:
        raise forms.ValidationError(_("Enter an amount above zero."))
    return value


class OpenShiftForm(forms.Form):
    vending_point = forms.TypedChoiceField(label=_("Vending point"), coerce=int)
    opening_float = forms.CharField(label=_("Cash float in the drawer"), initial="0")

    def clean_opening_float(self) -> Decimal:
        raw = self.cleaned_data["opening_float"].strip()
        if raw in ("", "0"):
            return Decimal(0)
        value = parse_decimal(raw)
        return value if value is not None else Decimal(0)


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Meter number, account, name or phone"), max_length=80)


class AmountForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("Sell by"),
        choices=[("money", _("Amount of money")), ("energy", _("kWh wanted"))],
        initial="money",
        widget=forms.RadioSelect,
    )
    amount = forms.CharField(label=_("Amount"), max_length=20)
    payment_method = forms.ChoiceField(label=_("Payment"), choices=PAYMENT_CHOICES)

    def clean_amount(self) -> Decimal:
        value = parse_decimal(self.cleaned_data["amount"])
        if value is None:
            raise forms.ValidationError(_("Enter an amount."))
        return value


class SellForm(AmountForm):
    client_reference = forms.CharField(widget=forms.HiddenInput, max_length=64)


class CloseShiftForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=255)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        labels = dict(PAYMENT_CHOICES)
        for method in TENDER_TYPES:
            self.fields[f"counted_{method}"] = forms.CharField(
                label=labels.get(method, method), required=False, initial="0"
            )

    def counted(self) -> dict[str, Decimal]:
        result: dict[str, Decimal] = {}
        for method in TENDER_TYPES:
            raw = str(self.cleaned_data.get(f"counted_{method}") or "").strip()
            if raw in ("", "0"):
                continue
            value = parse_decimal(raw)
            if value is not None:
                result[method] = value
        return result
