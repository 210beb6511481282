"""Form fields over the bounded edge parser (``kernel.inputs``): every number and text a screen or
an import reads goes through one of these, so no form can take ``1e700000`` or a bidi override."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from gridvend.kernel import inputs, phones
from gridvend.kernel.inputs import InvalidInput, NumberRule
from gridvend.kernel.money import currency_exponent
from gridvend.web.errors import describe


def setting_limit(name: str) -> Decimal:
    return Decimal(int(getattr(settings, name)))


class NumberField(forms.CharField):
    """A decimal read by ``kernel.inputs.parse_decimal``; ``maximum_setting`` names the setting
    holding the upper limit, read at validation time so tests and deployments can change it."""

    def __init__(
        self,
        *,
        rule: NumberRule,
        maximum_setting: str | None = None,
        positive: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_length", inputs.MAX_NUMBER_TEXT)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(**kwargs)
        self.rule = rule
        self.maximum_setting = maximum_setting
        self.positive = positive

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if value in self.empty_values:
            return None
        if isinstance(value, str) and len(value) > inputs.MAX_NUMBER_TEXT:
            raise ValidationError(_("The number has too many digits."), code="too_many_digits")
        rule = self.rule
        if self.maximum_setting is not None:
            rule = rule.with_maximum(setting_limit(self.maximum_setting))
        if self.positive:
            rule = rule.positive()
        try:
            return inputs.parse_decimal(value, rule)
        except InvalidInput as exc:
            raise ValidationError(describe(exc), code=exc.reason) from None

    def validate(self, value: Any) -> None:
        if value is None and self.required:
            raise ValidationError(self.error_messages["required"], code="required")

    def run_validators(self, value: Any) -> None:
        # CharField's MaxLengthValidator would measure the Decimal; the raw text was capped above.
        return None


def money_rule(maximum_setting: str | None = None, currency: str | None = None) -> NumberRule:
    """The money rule in the currency's own decimals (KES 2, UGX 0, KWD 3): "10.555 KES" is
    refused with "use at most 2 decimal places", not a vague invalid amount."""
    places = currency_exponent(currency or settings.CURRENCY)
    maximum = setting_limit(maximum_setting) if maximum_setting else inputs.MONEY.maximum
    return replace(inputs.MONEY, decimal_places=places, maximum=maximum)


class MoneyField(NumberField):
    def __init__(self, *, maximum_setting: str = "MAX_SALE_AMOUNT", **kwargs: Any) -> None:
        super().__init__(rule=inputs.MONEY, maximum_setting=maximum_setting, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        self.rule = money_rule(None)
        return super().to_python(value)


class KwhField(NumberField):
    def __init__(self, *, maximum_setting: str | None = "MAX_SALE_KWH", **kwargs: Any) -> None:
        super().__init__(rule=inputs.KWH, maximum_setting=maximum_setting, **kwargs)


class TextField(forms.CharField):
    """Text for names, addresses, notes and searches: NFC, capped, and free of control, invisible
    and bidi-override characters (they can make a name on a receipt display as another)."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 255)
        super().__init__(**kwargs)
        self.multiline = multiline

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        if not text:
            return ""
        limit = self.max_length or 255
        try:
            return inputs.clean_text(text, max_length=limit, multiline=self.multiline)
        except InvalidInput as exc:
            raise ValidationError(describe(exc), code=exc.reason) from None


class PhoneField(forms.CharField):
    """A phone number, read by ``kernel.phones.parse_phone`` with the utility's default country
    (GRIDVEND_DEFAULT_COUNTRY, read at validation time): "0745 275 900", "254745275900" and
    "(074) 527-5900" all clean to "+254745275900"; what is not a possible number is refused."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", phones.MAX_PHONE_TEXT)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "tel", "dir": "ltr", "autocomplete": "off"}),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        if not text:
            return ""
        try:
            return phones.parse_phone(text, region=settings.DEFAULT_COUNTRY)
        except InvalidInput as exc:
            raise ValidationError(describe(exc), code=exc.reason) from None

    def prepare_value(self, value: Any) -> Any:
        # A stored E.164 number is shown in an edit form the way people write it.
        if isinstance(value, str):
            return phones.display_phone(value, region=settings.DEFAULT_COUNTRY)
        return value


class WholeNumberField(forms.IntegerField):
    """An integer of ASCII digits (``int("٣")`` is 3 to Python, and Django's IntegerField takes
    it); ``min_value``/``max_value`` still apply as Django's validators."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            # The database's bigint range; min_value/max_value narrow it as validators.
            return inputs.parse_int(value, minimum=-(2**63), maximum=2**63 - 1)
        except InvalidInput as exc:
            raise ValidationError(describe(exc), code=exc.reason) from None
