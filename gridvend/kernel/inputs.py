"""The one bounded parser for numbers and text that arrive from outside (forms, imports, APIs).

Python's ``Decimal("1e700000")`` is a finite number, and turning it into minor units builds an
integer with 700,000 digits: one typed amount could hold a server for minutes. Every number a
person or a machine sends is therefore read here, from ASCII digits only, with a fixed number of
digits before and after the point, no exponent, no NaN or Infinity, and a minimum and maximum;
text is refused when it is too long or carries control or bidirectional-override characters.
The functions raise :class:`InvalidInput` with a stable reason code; each channel turns it into
its own error shape (a form error, a JSON error, a terminal error frame).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from gridvend.kernel.errors import DomainError

# Longest raw text a number may arrive as before it is even looked at (spaces and separators
# included): anything longer is refused without further work.
MAX_NUMBER_TEXT = 48

_NUMBER = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?$", re.ASCII)
_INTEGER = re.compile(r"^([+-]?)(\d+)$", re.ASCII)

# Characters that reorder text on screen or on a receipt (U+202A-U+202E embeddings and
# overrides, U+2066-U+2069 isolates) or are invisible (zero-width joiners, BOM): a name holding
# them can display as another name. LRM/RLM/ALM (U+200E, U+200F, U+061C) are left alone: Arabic
# text legitimately carries them and they cannot reorder what follows a field's end.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")


class InvalidInput(DomainError):
    """A value from outside could not be read; ``reason`` is a stable lower_snake code."""

    code = "INVALID_INPUT"
    message_template = "This value is not valid."
    variant_param = "reason"
    message_variants = {
        "not_a_number": "Enter a number.",
        "too_many_digits": "The number has too many digits.",
        "too_many_decimals": "Use at most %(decimal_places)s decimal places.",
        "zero": "Enter an amount above zero.",
        "below_minimum": "The smallest value is %(minimum)s.",
        "above_maximum": "The largest value is %(maximum)s.",
        "too_long": "Use at most %(max_length)s characters.",
        "bidi_control": "Remove the text-direction control characters.",
        "invisible_character": "Remove the invisible characters.",
        "control_character": "Remove the control characters.",
        "required": "This field is required.",
        "not_a_phone": (
            "This is not a phone number. Write it like %(example)s, or start with + and the "
            "country code."
        ),
        "phone_too_short": (
            "This phone number is too short. Write it like %(example)s, or start with + and "
            "the country code."
        ),
        "phone_too_long": (
            "This phone number is too long. Write it like %(example)s, or start with + and "
            "the country code."
        ),
        "invalid_filter": "The filter %(field)s is not valid: %(problem)s",
    }
    extra_params = (
        "decimal_places",
        "minimum",
        "maximum",
        "max_length",
        "region",
        "problem",
    )

    def __init__(self, *, reason: str, field: str | None = None, **params: Any):
        super().__init__(reason=reason, field=field, **params)

    @property
    def reason(self) -> str:
        return str(self.params["reason"])

    def display_params(self) -> dict[str, Any]:
        shown = dict(self.params)
        region = self.params.get("region")
        if region:
            from gridvend.kernel.phones import example_phone

            # Isolated left to right (LRI ... PDI): in an Arabic sentence "0712 123456" would
            # otherwise show its two groups in the opposite order.
            shown["example"] = f"\u2066{example_phone(str(region))}\u2069"
        return shown


@dataclass(frozen=True, slots=True)
class NumberRule:
    """How many digits a number may have, and its range.

    ``integer_digits`` counts significant digits before the point (leading zeros are free),
    ``decimal_places`` digits after it (trailing zeros are free).
    """

    integer_digits: int
    decimal_places: int
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    allow_zero: bool = True

    def with_maximum(self, maximum: Decimal | int | None) -> NumberRule:
        value = None if maximum is None else Decimal(maximum)
        return replace(self, maximum=value)

    def positive(self) -> NumberRule:
        """The same rule, refusing zero (an amount to sell, a debt to book)."""
        return replace(self, allow_zero=False)


def _refuse(reason: str, field: str | None = None, **params: Any) -> InvalidInput:
    return InvalidInput(reason=reason, field=field, **params)


def parse_decimal(raw: object, rule: NumberRule, *, field: str | None = None) -> Decimal:
    """Read a decimal number under ``rule``; "1,234.50" and " 12 " are fine, "1e3" is not.

    Accepts a ``str``, an ``int`` or a ``Decimal`` (from a spreadsheet cell); never a float.
    """
    if isinstance(raw, bool | float):
        raise _refuse("not_a_number", field)
    if isinstance(raw, int):
        text = str(raw) if abs(raw) < 10**MAX_NUMBER_TEXT else "x"
    elif isinstance(raw, Decimal):
        if not raw.is_finite():
            raise _refuse("not_a_number", field)
        # The exponent is checked before formatting, so Decimal("1e700000") costs nothing.
        exponent = raw.as_tuple().exponent
        assert isinstance(exponent, int)
        if (raw and raw.adjusted() >= MAX_NUMBER_TEXT) or exponent < -MAX_NUMBER_TEXT:
            raise _refuse("too_many_digits", field)
        text = format(raw, "f")
    elif isinstance(raw, str):
        text = raw
    else:
        raise _refuse("not_a_number", field)
    if len(text) > MAX_NUMBER_TEXT:
        raise _refuse("too_many_digits", field)
    text = text.strip().replace(",", "").replace(" ", "").replace("\u00a0", "").replace("_", "")
    match = _NUMBER.fullmatch(text)
    if not text or match is None or not (match.group(2) or match.group(3)):
        raise _refuse("not_a_number", field)
    sign, whole, fraction = match.group(1), match.group(2).lstrip("0"), match.group(3) or ""
    fraction = fraction.rstrip("0")
    if len(whole) > rule.integer_digits:
        raise _refuse("too_many_digits", field)
    if len(fraction) > rule.decimal_places:
        raise _refuse(
            "too_many_decimals",
            field,
            decimal_places=rule.decimal_places,
        )
    value = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
    if value == 0 and not rule.allow_zero:
        raise _refuse("zero", field)
    if rule.minimum is not None and value < rule.minimum:
        raise _refuse("below_minimum", field, minimum=rule.minimum)
    if rule.maximum is not None and value > rule.maximum:
        raise _refuse("above_maximum", field, maximum=rule.maximum)
    return value


def parse_int(raw: object, *, minimum: int, maximum: int, field: str | None = None) -> int:
    """Read a whole number of ASCII digits within [minimum, maximum]."""
    if isinstance(raw, bool | float):
        raise _refuse("not_a_number", field)
    if isinstance(raw, int):
        value = raw
    else:
        if isinstance(raw, Decimal):
            if not raw.is_finite() or raw != raw.to_integral_value() or abs(raw.adjusted()) > 20:
                raise _refuse("not_a_number", field)
            text = format(raw, "f").split(".")[0]
        elif isinstance(raw, str):
            text = raw.strip()
        else:
            raise _refuse("not_a_number", field)
        limit = max(len(str(minimum)), len(str(maximum))) + 1
        match = _INTEGER.fullmatch(text)
        if match is None:
            raise _refuse("not_a_number", field)
        if len(match.group(2).lstrip("0")) > limit:
            raise _refuse("too_many_digits", field)
        value = int(text)
    if value < minimum:
        raise _refuse("below_minimum", field, minimum=minimum)
    if value > maximum:
        raise _refuse("above_maximum", field, maximum=maximum)
    return value


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """The reason code a text is unfit to store, or None: control, bidi or invisible characters."""
    for char in text:
        if char in BIDI_CONTROLS:
            return "bidi_control"
        if char in INVISIBLE:
            return "invisible_character"
        if char in "\t\r\n" and multiline:
            continue
        category = unicodedata.category(char)
        if category == "Cc" or category == "Cs":
            return "control_character"
    return None


def clean_text(
    raw: object,
    *,
    max_length: int,
    field: str | None = None,
    multiline: bool = False,
    required: bool = False,
) -> str:
    """Read a text field: NFC-normalised, stripped, at most ``max_length`` characters, and free
    of control, bidirectional-override and invisible characters."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        if isinstance(raw, int | Decimal) and not isinstance(raw, bool):
            raw = str(raw)
        else:
            raise _refuse("not_text", field)
    # The cap is checked before normalising: NFC can grow a string, but never past 3x.
    if len(raw) > max_length * 4 + 16:
        raise _refuse("too_long", field, max_length=max_length)
    text = unicodedata.normalize("NFC", raw).strip()
    if len(text) > max_length:
        raise _refuse("too_long", field, max_length=max_length)
    problem = text_problem(text, multiline=multiline)
    if problem is not None:
        raise _refuse(problem, field)
    if required and not text:
        raise _refuse("required", field)
    return text


# The rules the product uses; channels take the maximum from settings where one applies.
MONEY = NumberRule(integer_digits=12, decimal_places=3, minimum=Decimal(0))
KWH = NumberRule(integer_digits=9, decimal_places=1, minimum=Decimal(0))
RATE = NumberRule(integer_digits=9, decimal_places=8, minimum=Decimal(0))
PERCENT = NumberRule(integer_digits=3, decimal_places=4, minimum=Decimal(0), maximum=Decimal(100))
LATITUDE = NumberRule(integer_digits=2, decimal_places=6, minimum=Decimal(-90), maximum=Decimal(90))
LONGITUDE = NumberRule(
    integer_digits=3, decimal_places=6, minimum=Decimal(-180), maximum=Decimal(180)
)
