"""Review of issue 15 (USSD and SMS), as a hostile caller or SMS sender and a clumsy customer.
Each probe fails while the defect it names is real; the others pin behaviour that holds."""

from __future__ import annotations

import pytest

import tests.world
from gridvend.jobs.models import OutboxMessage
from gridvend.mobilemoney.models import PaymentState, StkPush, StkState
from gridvend.phone.models import InboundSms, UssdSession
from gridvend.sts.identity import MeterNumber
from gridvend.vending.models import Sale
from tests.gateways.ussd.conftest import CALLER, STRANGER, Phones

pytestmark = pytest.mark.django_db


def test_probe_a_ussd_purchase_for_a_13_digit_meter_is_sold(
    phones: Phones, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The customer sees "Approve the M-Pesa prompt ... The token comes by SMS", pays, and the
    money lands in suspense (MOBILE_ACCOUNT_UNKNOWN): the push carries only the first 12 of the
    meter's 13 digits, and the payment is sold to that account reference."""
    monkeypatch.setattr(
        tests.world,
        "meter_number",
        lambda serial, mfr="04": str(MeterNumber.from_parts("0104", serial)),
    )
    meter = phones.meter()
    assert len(meter.number) == 13
    last = phones.screen("ATUid_p13", f"1*1*{meter.number}*1*500*1")
    assert last.startswith("END ") and "M-Pesa" in last
    phones.paybill.deliver_held()
    push = StkPush.objects.get()
    assert push.state == StkState.PAID and push.payment is not None
    assert push.payment.state == PaymentState.SOLD, (
        f"paid, but {push.payment.state} ({push.payment.suspense_code})"
    )
    assert Sale.objects.filter(meter=meter).count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "1*1*{meter}*1*٥٠٠*1",  # Arabic-Indic digits for the amount
        "1*1*{meter}*1*５００*1",  # full-width digits
        "1*1*{meter}*1*5*00*1",  # a star inside the amount: two entries, each wrong
        "1*1*٠٤{tail}*1*500*1",  # Arabic-Indic digits in the meter number
        "1*1*{meter}*1*500.5*1",
        "1*1*{meter}*1*1e3*1",
    ],
)
def test_probe_hostile_ussd_entries_never_prompt_a_phone_or_fail(phones: Phones, path: str) -> None:
    meter = phones.meter()
    text = path.format(meter=meter.number, tail=meter.number[2:])
    reply = phones.hop("ATUid_h", text)
    assert reply.status_code == 200
    body = reply.content.decode()
    assert body.startswith(("CON ", "END "))
    assert not StkPush.objects.exists() and phones.paybill.daraja.pushes == {}


def test_probe_a_10_kb_hop_is_an_end_screen_and_nothing_is_kept(phones: Phones) -> None:
    reply = phones.hop("ATUid_10k", "1" * 10_000)
    assert reply.status_code == 200 and reply.content.startswith(b"END ")
    assert not UssdSession.objects.exists() and not StkPush.objects.exists()


def test_probe_another_phone_cannot_finish_a_strangers_session(phones: Phones) -> None:
    """A hop naming someone else's session id, with the whole path to the final hop, from
    another phone: no prompt to either phone, and the owner's session is not ended by it."""
    meter = phones.meter()
    phones.screen("ATUid_own", f"1*1*{meter.number}*1*500")
    stolen = phones.screen("ATUid_own", f"1*1*{meter.number}*1*500*1", phone=STRANGER)
    assert stolen.startswith("END ") and not StkPush.objects.exists()
    mine = phones.screen("ATUid_own", f"1*1*{meter.number}*1*500*1")
    assert mine.startswith("END ")
    push = StkPush.objects.get()
    assert push.phone == CALLER.lstrip("+")


@pytest.mark.parametrize(
    "text",
    [
        "buy\u00a0{g}\u00a0500",  # no-break spaces
        "  Buy\t{g}\u3000 500 ",  # tab and an ideographic space
        "BUY {g}\n500",
        "bUy {m}   500",
        "BUY\u200b{m} 500",  # a zero-width space: read as a space, as documented
    ],
)
def test_probe_sms_buy_with_odd_spacing_prompts_for_the_right_meter_and_amount(
    phones: Phones, text: str
) -> None:
    meter = phones.meter()
    grouped = " ".join(meter.number[i : i + 4] for i in range(0, len(meter.number), 4))
    reply = phones.sms("ATXid_sp", text.format(g=grouped, m=meter.number))
    assert reply.status_code == 200
    push = StkPush.objects.get()
    assert (push.account_ref, push.amount_minor) == (meter.number, 50000)


@pytest.mark.parametrize(
    "text",
    [
        "ＢＵＹ {m} 500",  # full-width keyword
        "BUY {m} ٥٠٠",  # Arabic-Indic amount
        "BUY {m} 500.50",
        "BUY {m} -500",  # read as 500 today: clean_digits drops the dash
        "BUY {m} 5-0-0",
        "BUY {m} 5e2",
        "BUY {m} 9999999999999",
        "BUY " + "1" * 400 + " 500",
    ],
)
def test_probe_hostile_sms_is_refused_clearly_and_prompts_nobody(phones: Phones, text: str) -> None:
    meter = phones.meter()
    reply = phones.sms("ATXid_h", text.format(m=meter.number))
    assert reply.status_code == 200
    assert not StkPush.objects.exists() and phones.paybill.daraja.pushes == {}
    message = InboundSms.objects.get()
    assert message.outcome  # a code kept for the refusal
    assert message.reply_key  # and an answer sent


def test_probe_a_stranger_gets_no_token_by_sms_or_by_reference(phones: Phones) -> None:
    meter = phones.meter(phone="+254733000222")
    phones.screen("ATUid_v", f"1*1*{meter.number}*1*500*1", phone="+254733000222")
    phones.paybill.deliver_held()
    sale = Sale.objects.get(meter=meter)
    token = sale.tokens.order_by("sequence").values_list("digits", flat=True)[0]
    phones.sms("ATXid_s1", f"TOKEN {meter.number}", phone=STRANGER)
    phones.sms("ATXid_s2", f"BAL {meter.number}", phone=STRANGER)
    refused = phones.screen("ATUid_s3", f"1*3*{sale.reference}", phone=STRANGER)
    assert token not in refused.replace(" ", "")
    for sms in OutboxMessage.objects.all():
        if sms.payload.get("to") == STRANGER:
            assert token not in str(sms.payload).replace(" ", "")
