"""The portal's forms: every field bounded before any use case sees it."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import MONEY, parse_decimal

CHANNELS = [("sms", _("SMS to my phone")), ("email", _("E-mail"))]


def new_request_id() -> str:
    return secrets.token_hex(12)


class ProofForm(forms.Form):
    meter_number = forms.CharField(label=_("Meter number"), max_length=20)
    account_number = forms.CharField(label=_("Account number"), max_length=20)
    channel = forms.ChoiceField(
        label=_("Send the code by"), choices=CHANNELS, widget=forms.RadioSelect, initial="sms"
    )


class CodeForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=6, min_length=6)


class SignUpForm(CodeForm):
    username = forms.CharField(label=_("Choose a user name"), max_length=60)
    password = forms.CharField(
        label=_("Choose a password"), max_length=200, widget=forms.PasswordInput
    )
    password_again = forms.CharField(
        label=_("The password again"), max_length=200, widget=forms.PasswordInput
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class TotpForm(forms.Form):
    code = forms.CharField(label=_("Code from your authenticator app"), max_length=10)


class PasswordForm(forms.Form):
    password = forms.CharField(label=_("Password"), max_length=200, widget=forms.PasswordInput)


class LoginForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=60)
    password = forms.CharField(label=_("Password"), max_length=200, widget=forms.PasswordInput)


class ResetForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=60)
    channel = forms.ChoiceField(
        label=_("Send the code by"), choices=CHANNELS, widget=forms.RadioSelect, initial="sms"
    )


class NewPasswordForm(CodeForm):
    password = forms.CharField(label=_("New password"), max_length=200, widget=forms.PasswordInput)
    password_again = forms.CharField(
        label=_("The password again"), max_length=200, widget=forms.PasswordInput
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class BuyForm(forms.Form):
    meter = forms.ChoiceField(label=_("Meter"))
    amount = forms.CharField(label=_("Amount"), max_length=20)
    phone = forms.CharField(
        label=_("Phone that pays (mobile money)"), max_length=20, required=False
    )
    method = forms.ChoiceField(
        label=_("Pay with"),
        choices=[
            ("mobile_money", _("Mobile money (a prompt on the phone)")),
            ("wallet", _("My wallet")),
        ],
        widget=forms.RadioSelect,
        initial="mobile_money",
    )
    request_id = forms.CharField(max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args: Any, meters: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["meter"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(number, number) for number in meters]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("method") == "mobile_money" and not data.get("phone"):
            self.add_error("phone", _("This field is required."))
        return data

    def clean_amount(self) -> Decimal:
        rule = MONEY.with_maximum(settings.MAX_SALE_AMOUNT)
        try:
            value = parse_decimal(self.cleaned_data["amount"], rule, field="amount")
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        if value <= 0:
            raise forms.ValidationError(_("Enter an amount above zero."))
        return value


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
