"""Meter identity: 11/13-digit meter numbers (IAIN) with Luhn check digits and the 18-digit PAN."""

from __future__ import annotations

from dataclasses import dataclass

from gridvend.sts.errors import MeterNumberCheckDigit, MeterNumberInvalid, PanCheckDigit, PanInvalid

#: IIN used with 11-digit meter numbers (2-digit manufacturer codes).
IIN_11_DIGIT = "600727"
#: IIN used with 13-digit meter numbers (4-digit manufacturer codes).
IIN_13_DIGIT = "0000"


def luhn_check_digit(payload: str) -> int:
    """Luhn check digit of a decimal string (the digit that would be appended to it)."""
    if not payload.isascii() or not payload.isdigit():
        raise ValueError("Luhn payload must be decimal digits")
    total = 0
    # The rightmost payload digit is doubled because the check digit will sit to its right.
    for position, char in enumerate(reversed(payload)):
        digit = ord(char) - 48
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def _digits(value: str | int, what: str, error: type[Exception]) -> str:
    text = str(value).strip().replace(" ", "").replace("-", "")
    if not text.isascii() or not text.isdigit():
        raise error(f"{what} must contain only digits")
    return text


@dataclass(frozen=True, slots=True)
class MeterNumber:
    """A meter number (IAIN / DRN): manufacturer code, 8-digit serial and a Luhn check digit."""

    digits: str

    @classmethod
    def parse(cls, value: str | int) -> MeterNumber:
        text = _digits(value, "meter number", MeterNumberInvalid)
        if isinstance(value, int) and len(text) < 11:
            # An int loses leading zeros; 11 digits is the only form that can be restored safely.
            text = text.zfill(11)
        if len(text) not in (11, 13):
            raise MeterNumberInvalid("meter number must have 11 or 13 digits")
        expected = luhn_check_digit(text[:-1])
        if int(text[-1]) != expected:
            raise MeterNumberCheckDigit("meter number check digit does not match")
        return cls(text)

    @classmethod
    def from_parts(cls, manufacturer_code: str | int, serial: str | int) -> MeterNumber:
        """Build a meter number from a 2- or 4-digit manufacturer code and an 8-digit serial."""
        mfr = str(manufacturer_code)
        if not mfr.isdigit() or len(mfr) > 4:
            raise MeterNumberInvalid("manufacturer code must be 2 or 4 digits")
        mfr = mfr.zfill(2) if len(mfr) <= 2 else mfr.zfill(4)
        ser = str(serial)
        if not ser.isdigit() or len(ser) > 8:
            raise MeterNumberInvalid("serial number must be at most 8 digits")
        payload = mfr + ser.zfill(8)
        return cls(payload + str(luhn_check_digit(payload)))

    @property
    def manufacturer_code(self) -> str:
        return self.digits[:2] if len(self.digits) == 11 else self.digits[:4]

    @property
    def serial(self) -> str:
        return self.digits[-9:-1]

    @property
    def check_digit(self) -> int:
        return int(self.digits[-1])

    @property
    def iin(self) -> str:
        return IIN_11_DIGIT if len(self.digits) == 11 else IIN_13_DIGIT

    @property
    def pan(self) -> Pan:
        body = self.iin + self.digits
        return Pan(body + str(luhn_check_digit(body)))

    def __str__(self) -> str:
        return self.digits


@dataclass(frozen=True, slots=True)
class Pan:
    """The 18-digit Primary Account Number: IIN ‖ IAIN ‖ Luhn digit."""

    digits: str

    @classmethod
    def parse(cls, value: str | int) -> Pan:
        text = _digits(value, "PAN", PanInvalid)
        if isinstance(value, int):
            text = text.zfill(18)
        if len(text) != 18:
            raise PanInvalid("PAN must have 18 digits")
        if int(text[-1]) != luhn_check_digit(text[:-1]):
            raise PanCheckDigit("PAN check digit does not match")
        pan = cls(text)
        pan.meter_number  # noqa: B018 - validates the IIN and the meter number inside the PAN
        return pan

    @property
    def iin(self) -> str:
        if self.digits.startswith(IIN_11_DIGIT):
            return IIN_11_DIGIT
        if self.digits.startswith(IIN_13_DIGIT):
            return IIN_13_DIGIT
        raise PanInvalid("PAN must start with IIN 600727 (11-digit meters) or 0000 (13-digit)")

    @property
    def meter_number(self) -> MeterNumber:
        iin = self.iin
        try:
            return MeterNumber.parse(self.digits[len(iin) : -1])
        except MeterNumberCheckDigit as exc:
            raise PanInvalid("meter number inside the PAN has a wrong check digit") from exc

    @property
    def check_digit(self) -> int:
        return int(self.digits[-1])

    def __str__(self) -> str:
        return self.digits


def parse_meter_or_pan(value: str | int) -> MeterNumber:
    """Accept an 11/13-digit meter number or an 18-digit PAN and return the meter number."""
    text = _digits(value, "meter number", MeterNumberInvalid)
    if len(text) == 18:
        return Pan.parse(text).meter_number
    return MeterNumber.parse(value)
