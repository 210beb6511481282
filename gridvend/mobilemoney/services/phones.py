"""The phone number an STK push prompts: Safaricom wants 2547XXXXXXXX or 2541XXXXXXXX."""

from __future__ import annotations

from gridvend.mobilemoney.errors import MobilePhoneInvalid


def stk_phone(raw: str) -> str:
    """A Kenyan mobile number in the form Daraja takes, from any way a person writes it
    (0712 345 678, +254712345678, 254712345678)."""
    text = str(raw)[:32]
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.strip().startswith("+"):
        pass
    elif digits.startswith("0") and len(digits) == 10:
        digits = "254" + digits[1:]
    elif len(digits) == 9 and digits[0] in "17":
        digits = "254" + digits
    if len(digits) != 12 or not digits.startswith(("2547", "2541")):
        raise MobilePhoneInvalid(phone=text)
    if any(not (ch.isdigit() or ch in " +-()") for ch in text):
        raise MobilePhoneInvalid(phone=text)
    return digits
