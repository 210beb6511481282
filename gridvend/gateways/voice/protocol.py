"""The aggregator's wire form (Africa's Talking voice and SMS callbacks): form-urlencoded POSTs
read with a size cap and bounded fields, and the voice XML we answer with (``Response`` holding
``Say``, ``GetDigits`` and ``Reject``).

Voice callback fields used: ``isActive`` ("1" while the call is up, "0" in the final
notification), ``sessionId``, ``callerNumber``, ``dtmfDigits`` (only on the callback of a
``GetDigits``). Inbound SMS fields used: ``id``, ``from``, ``text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from gridvend.dunning.errors import EnquiryInputInvalid
from gridvend.kernel.inputs import text_problem

MAX_BODY_BYTES = 8 * 1024
MAX_FIELD = 200
MAX_FIELDS = 40
# How long the caller has to key the account number, and the key that ends it.
DIGITS_TIMEOUT_SECONDS = 30
FINISH_KEY = "#"


def read_form(raw: bytes) -> dict[str, str]:
    """The body's fields; EnquiryInputInvalid for a body that is not a small UTF-8 form with
    printable fields."""
    if len(raw) > MAX_BODY_BYTES:
        raise EnquiryInputInvalid(field="body")
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise EnquiryInputInvalid(field="body") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if len(name) > MAX_FIELD or len(value) > MAX_FIELD * 5:
            raise EnquiryInputInvalid(field="body")
        fields[name] = value
    return fields


def field(
    form: dict[str, str], name: str, *, required: bool = False, max_length: int = MAX_FIELD
) -> str:
    value = form.get(name, "").strip()
    if (required and not value) or len(value) > max_length or text_problem(value) is not None:
        raise EnquiryInputInvalid(field=name)
    return value


@dataclass(frozen=True)
class VoiceCallback:
    session_id: str
    is_active: bool
    caller: str
    digits: str | None


def read_voice(form: dict[str, str]) -> VoiceCallback:
    active = field(form, "isActive", max_length=1)
    if active not in ("0", "1", ""):
        raise EnquiryInputInvalid(field="isActive")
    digits = form.get("dtmfDigits")
    return VoiceCallback(
        session_id=field(form, "sessionId", required=True, max_length=100),
        is_active=active != "0",
        caller=field(form, "callerNumber", max_length=32),
        # Checked by the enquiry (digits only, at most 20), so the caller is asked again.
        digits=None if digits is None else digits[:41],
    )


def say(text: str) -> str:
    return f"<Say>{escape(text)}</Say>"


def get_digits(prompt: str, *, callback_url: str) -> str:
    return (
        f"<GetDigits timeout={quoteattr(str(DIGITS_TIMEOUT_SECONDS))} "
        f"finishOnKey={quoteattr(FINISH_KEY)} callbackUrl={quoteattr(callback_url)}>"
        f"{say(prompt)}</GetDigits>"
    )


def response(*actions: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n<Response>' + "".join(actions) + "</Response>"


REJECT = response("<Reject/>")
