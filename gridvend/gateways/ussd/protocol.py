"""Africa's Talking's wire form: form-urlencoded POSTs (USSD hops, end-of-session events,
inbound SMS, delivery reports) read with a size cap before parsing and bounded fields; the USSD
answer is ``text/plain`` starting ``CON`` or ``END``."""

from __future__ import annotations

from urllib.parse import parse_qsl

from gridvend.kernel.inputs import text_problem
from gridvend.phone.errors import PhoneCallbackInvalid

MAX_BODY_BYTES = 4 * 1024
MAX_FIELDS = 30
MAX_FIELD = 200


def read_form(raw: bytes) -> dict[str, str]:
    if len(raw) > MAX_BODY_BYTES:
        raise PhoneCallbackInvalid(problem=f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise PhoneCallbackInvalid(problem="not a UTF-8 form") from None
    return dict(pairs)


def field(
    form: dict[str, str], name: str, *, required: bool = False, max_length: int = MAX_FIELD
) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise PhoneCallbackInvalid(problem=f"{name} is missing")
    if len(value) > max_length:
        raise PhoneCallbackInvalid(problem=f"{name} is longer than {max_length} characters")
    if text_problem(value) is not None:
        raise PhoneCallbackInvalid(problem=f"{name} holds characters that are not allowed")
    return value


def number(form: dict[str, str], name: str) -> int | None:
    value = form.get(name, "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise PhoneCallbackInvalid(problem=f"{name} is not a whole number")
    return int(value)
