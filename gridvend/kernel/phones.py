"""Phone numbers read once at the edge and kept in E.164 (``+254745275900``), whatever way a
person wrote them: "0745 275 900", "254745275900" and "(074) 527-5900" are the same number in
Kenya. The rules of each country (trunk prefixes, lengths, country codes) come from
libphonenumber's metadata through the ``phonenumbers`` package; ``region`` is the utility's
default country (ISO 3166 alpha-2), used for numbers written without their country code.

A refusal is an :class:`InvalidInput` with a stable reason; each channel words it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from gridvend.kernel.inputs import InvalidInput, clean_text

# Longest text a phone number may arrive as, separators included (the stored columns hold 32).
MAX_PHONE_TEXT = 32
# A search of at least this many digits may match the end of a stored number ("the last six").
MIN_TAIL_DIGITS = 6

# Digits of any script (phonenumbers reads Arabic-Indic digits too), a leading plus and the
# separators people write. Letters are refused: libphonenumber would read "0745 CALL ME" as a
# keypad word and "ext. 12" as an extension, which E.164 cannot keep.
_PHONE_TEXT = re.compile(r"^\+?[\d\s().\-/]+$")


def _refuse(reason: str, field: str | None, region: str) -> InvalidInput:
    return InvalidInput(reason=reason, field=field, region=region)


def _parsed(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    if not _PHONE_TEXT.match(text):
        return None
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def parse_phone(raw: object, *, region: str, field: str | None = None) -> str:
    """The number in E.164, "" for an empty text, or InvalidInput.

    A number is refused unless it is a possible number (its length fits its country's plan);
    one that is possible only when dialled locally (without its area code) is refused too.
    """
    text = clean_text(raw, max_length=MAX_PHONE_TEXT, field=field)
    if not text:
        return ""
    number = _parsed(text, region)
    if number is None or number.extension:
        raise _refuse("not_a_phone", field, region)
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.IS_POSSIBLE:
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if reason in (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise _refuse("phone_too_short", field, region)
    if reason == ValidationResult.TOO_LONG:
        raise _refuse("phone_too_long", field, region)
    raise _refuse("not_a_phone", field, region)


def stored_phone(value: str, *, region: str) -> str | None:
    """What a phone stored before numbers were normalised becomes: E.164, "" for an empty one,
    or None when it is not a number ``parse_phone`` would take (it is then left as it is)."""
    try:
        return parse_phone(value, region=region)
    except InvalidInput:
        return None


def is_registered_phone(registered: str, phone: str, *, region: str) -> bool:
    """Whether ``phone`` (E.164) is the number stored as ``registered``, however it was written
    when it was stored; False for an empty or unreadable stored number."""
    return bool(registered) and bool(phone) and stored_phone(registered, region=region) == phone


def display_phone(stored: str, *, region: str) -> str:
    """A stored number as people read it: the national way for the utility's own country
    ("0745 275900"), the international way for others ("+44 20 7946 0958"). A value that is
    not E.164 (left over from before) is shown as it is."""
    if not stored.startswith("+"):
        return stored
    try:
        number = phonenumbers.parse(stored, None)
    except NumberParseException:
        return stored
    home = number.country_code == phonenumbers.country_code_for_region(region)
    style = PhoneNumberFormat.NATIONAL if home else PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def example_phone(region: str) -> str:
    """A mobile number of the region written the national way, for messages ("0712 123456")."""
    number = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(region)
    if number is None:
        return "+…"
    return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)


@dataclass(frozen=True, slots=True)
class PhoneQuery:
    """What a search text can match among stored numbers.

    ``number`` is the E.164 number the text is (when it is a possible number); ``tail`` the
    digits a stored number may end with (when the text is at least MIN_TAIL_DIGITS digits).
    ``is_valid`` says the number is one the country's plan assigns, so the text is surely the
    whole number and not the last digits of one (a search then needs no suffix).
    """

    number: str | None
    tail: str | None
    is_valid: bool = False


def phone_query(text: str, *, region: str) -> PhoneQuery:
    stripped = text.strip()
    if not stripped or len(stripped) > MAX_PHONE_TEXT or not _PHONE_TEXT.match(stripped):
        return PhoneQuery(None, None)
    try:
        number = parse_phone(stripped, region=region) or None
    except InvalidInput:
        number = None
    digits = phonenumbers.normalize_digits_only(stripped)
    valid = number is not None and phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    return PhoneQuery(number, digits if len(digits) >= MIN_TAIL_DIGITS else None, valid)


def is_region(code: str) -> bool:
    """Whether phone numbers of the ISO 3166 alpha-2 country ``code`` can be read."""
    return code in phonenumbers.SUPPORTED_REGIONS
