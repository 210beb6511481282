"""Forms of the cashier screen: parsing only; amounts become Money in the view's currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gridvend.kernel import inputs
from gridvend.kernel.inputs import MAX_NUMBER_TEXT, InvalidInput, NumberRule
from gridvend.meters.selectors import normalise_meter_number
from gridvend.vending.shifts import TENDER_TYPES
from gridvend.web.errors import describe
from gridvend.web.fields import (
    MoneyField,
    NumberField,
    TextField,
    WholeNumberField,
    money_rule,
    setting_limit,
)
from gridvend.web.forms import PASSWORD_MAX

PAYMENT_CHOICES = [
    ("cash", _("Cash")),
    ("card", _("Card")),
    ("cheque", _("Cheque")),
    ("transfer", _("Bank transfer")),
    ("mobile_money", _("Mobile money")),
]


class ShiftOpenForm(forms.Form):
    vending_point = forms.TypedChoiceField(label=_("Vending point"), coerce=int)

    def __init__(
        self, *args: Any, points: list[tuple[int, str]], own: int | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("initial", {})["vending_point"] = own
        super().__init__(*args, **kwargs)
        # A blank first choice: the browser would otherwise preselect whichever point came
        # first in the list (another agent's). Only the user's own point is preselected.
        blank = [("", _("Choose a vending point"))] if points else []
        self.fields["vending_point"].choices = [*blank, *points]  # type: ignore[attr-defined]

    opening_float = MoneyField(
        label=_("Cash float in the drawer"),
        initial="0",
        required=False,
        maximum_setting="MAX_FLOAT_AMOUNT",
    )

    def clean_opening_float(self) -> Decimal:
        value = self.cleaned_data.get("opening_float")
        return value if value is not None else Decimal(0)


class CustomerSearchForm(forms.Form):
    q = TextField(label=_("Meter number, account, name or phone"), max_length=80)


class SaleReprintForm(forms.Form):
    meter = TextField(label=_("Meter number"), max_length=32)

    def clean_meter(self) -> str:
        digits = normalise_meter_number(self.cleaned_data["meter"])
        if not (digits.isdigit() and len(digits) in (11, 13)):
            raise forms.ValidationError(_("Enter the 11- or 13-digit meter number."))
        return digits


class SaleAmountForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("Sell by"),
        choices=[("money", _("Amount of money")), ("energy", _("kWh wanted"))],
        initial="money",
        widget=forms.RadioSelect,
    )
    amount = forms.CharField(label=_("Amount"), max_length=MAX_NUMBER_TEXT)
    payment_method = forms.ChoiceField(label=_("Payment"), choices=PAYMENT_CHOICES)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = data.get("amount")
        if raw is None:
            return data
        # The amount is money or kWh depending on the mode, each with its own digits and limit.
        if data.get("mode") == "energy":
            rule = inputs.KWH.with_maximum(setting_limit("MAX_SALE_KWH"))
        else:
            rule = money_rule("MAX_SALE_AMOUNT")
        try:
            data["amount"] = inputs.parse_decimal(raw, rule.positive())
        except InvalidInput as exc:
            self.add_error("amount", describe(exc))
        return data


# Tenders that come with a slip, a cheque or a transaction code the cashier types in, so that
# the sale can be matched with the statement.
REFERENCED_TENDERS = ("card", "cheque", "transfer", "mobile_money")


class SaleForm(SaleAmountForm):
    """The quoted amount (hidden) and what the cashier types while taking the payment: the cash
    the customer handed over (optional; the screen shows the change), or the payment reference
    of any other tender (required)."""

    client_reference = forms.CharField(widget=forms.HiddenInput, max_length=64)
    cash_received = MoneyField(
        label=_("Cash received"), required=False, positive=True, maximum_setting="MAX_CASH_COUNT"
    )
    payment_reference = TextField(label=_("Payment reference"), required=False, max_length=64)
    # What the breakdown shown to the customer asked for and gave (hidden): see QUOTE_CHANGED.
    quoted_minor = WholeNumberField(required=False, min_value=0, widget=forms.HiddenInput)
    quoted_kwh = NumberField(
        required=False, rule=NumberRule(9, 6, minimum=Decimal(0)), widget=forms.HiddenInput
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        method = data.get("payment_method")
        if method == "cash":
            data["payment_reference"] = ""
        else:
            data["cash_received"] = None
            if (
                method in REFERENCED_TENDERS
                and not data.get("payment_reference")
                and "payment_reference" not in self.errors
            ):
                self.add_error(
                    "payment_reference",
                    _("Type the reference on the card slip, cheque or payment message."),
                )
        return data


class ScreenUnlockForm(forms.Form):
    password = forms.CharField(
        label=_("Password"), max_length=PASSWORD_MAX, widget=forms.PasswordInput
    )


class ShiftCloseForm(forms.Form):
    note = TextField(label=_("Note"), required=False, max_length=255)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        labels = dict(PAYMENT_CHOICES)
        for method in TENDER_TYPES:
            self.fields[f"counted_{method}"] = MoneyField(
                label=labels.get(method, method),
                required=False,
                initial="0",
                maximum_setting="MAX_CASH_COUNT",
            )

    def counted(self) -> dict[str, Decimal]:
        """The counted amount per tender; an empty or zero count is no count (the drawer is
        empty of it). Only called after ``is_valid()``: every value is already parsed."""
        result: dict[str, Decimal] = {}
        for method in TENDER_TYPES:
            value = self.cleaned_data.get(f"counted_{method}")
            if value:
                result[method] = value
        return result


class BillAccountForm(forms.Form):
    account = TextField(label=_("Postpaid account number"), max_length=20)


class BillPaymentForm(forms.Form):
    """Cash for a postpaid account's bills; the hidden reference makes a double submit one
    payment (the billing service is idempotent on it)."""

    client_reference = TextField(widget=forms.HiddenInput, max_length=64)
    amount = MoneyField(label=_("Amount paid"), positive=True, maximum_setting="MAX_CASH_COUNT")


class StkPushForm(forms.Form):
    """Ask the customer's phone to pay (M-Pesa STK push) instead of taking cash: the amount,
    the phone, the paybill when there are several, and the form's own reference (the same
    form sent twice prompts the phone once)."""

    client_reference = TextField(widget=forms.HiddenInput, max_length=64)
    amount = MoneyField(label=_("Amount"), positive=True, maximum_setting="MAX_SALE_AMOUNT")
    phone = TextField(label=_("Customer's phone"), max_length=20)
    paybill = forms.TypedChoiceField(label=_("Paybill"), coerce=int)

    def __init__(self, *args: Any, paybills: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["paybill"]
        field.choices = paybills  # type: ignore[attr-defined]
        if len(paybills) == 1:
            field.initial = paybills[0][0]
            field.widget = forms.HiddenInput()


class WalletFindForm(forms.Form):
    account = TextField(label=_("Customer account or wallet reference"), max_length=20)


class WalletTopUpForm(forms.Form):
    """Cash into a customer's prepaid wallet; the hidden reference makes a double submit one
    top-up (the wallet service is idempotent on it)."""

    client_reference = TextField(widget=forms.HiddenInput, max_length=40)
    amount = MoneyField(label=_("Cash received"), positive=True, maximum_setting="MAX_CASH_COUNT")
