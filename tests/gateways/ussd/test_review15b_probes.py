"""Second review of issue 15 (two-way SMS and USSD), aimed at the fix of 31b777d (inbound SMS
text read with control characters as spaces). Each ``test_probe_`` fails while the defect it
names is real; ``test_holds_`` pins behaviour that was checked and holds."""

from __future__ import annotations

import pytest

from gridvend.mobilemoney.models import StkPush
from gridvend.phone import sms
from gridvend.phone.models import InboundSms
from tests.gateways.ussd.conftest import Phones

pytestmark = pytest.mark.django_db


def test_probe_an_sms_longer_than_the_limit_is_not_cut_into_another_amount(
    phones: Phones,
) -> None:
    """Severity: low (the phone is prompted for an amount the customer never wrote).

    ``sms.receive`` refuses a message longer than MAX_TEXT (480) as not understood, but since
    31b777d the view reads the text with ``protocol.message_text``, which cuts it to 480
    characters first, so that refusal never fires: "BUY <meter> <spaces> 50000" of 482
    characters is read as BUY <meter> 500 and the customer's phone is prompted for 500. A
    concatenated SMS, or a customer's padded message, changes amount silently. Cause:
    gateways/ussd/protocol.py ``message_text`` (``cleaned.strip()[:max_length]``). Fix: keep
    the length check (refuse, with the help text, a message longer than MAX_TEXT) or cut only
    after reading; never parse a truncated command."""
    meter = phones.meter()
    head = f"BUY {meter.number}"
    amount = "50000"
    padding = sms.MAX_TEXT + 2 - len(head) - len(amount)
    text = head + " " * padding + amount
    assert len(text) == sms.MAX_TEXT + 2
    reply = phones.sms("ATXid_long", text)
    assert reply.status_code == 200
    message = InboundSms.objects.get()
    prompted = [p.amount_minor for p in StkPush.objects.all()]
    assert prompted in ([], [5_000_000]), (
        f"a {len(text)}-character BUY for {amount} prompted the phone for "
        f"{[m // 100 for m in prompted]} (outcome {message.outcome!r})"
    )


@pytest.mark.parametrize(
    "text",
    ["BUY {m}\r\n500", "BUY\x00{m}\x07500", "buy {m}\u2028500", "BUY {m}\t500\x7f"],
)
def test_holds_control_characters_in_an_sms_are_read_as_spaces(phones: Phones, text: str) -> None:
    """The 31b777d reading: line breaks and control characters are spaces, and the command is
    still understood (one prompt, the right amount and meter); the text is kept without them."""
    meter = phones.meter()
    reply = phones.sms("ATXid_ctl", text.format(m=meter.number))
    assert reply.status_code == 200
    push = StkPush.objects.get()
    assert (push.meter_number, push.amount_minor) == (meter.number, 50000)
    kept = InboundSms.objects.get().text
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in kept), kept
