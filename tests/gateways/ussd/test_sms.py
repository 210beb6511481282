"""Two-way SMS through the Africa's Talking callbacks: a purchase by ``BUY`` ending in a token
the meter accepts, commands in any case and spacing, answers in the sender's language, privacy
refusals, deduplication of inbound messages and of delivery reports, the resend of a failed
message and then the flag for customer care, and the per-phone rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.customers.models import Customer
from gridvend.jobs import outbox
from gridvend.jobs.models import OutboxMessage
from gridvend.mobilemoney.models import StkPush, StkState
from gridvend.phone.models import DeliveryReport, InboundSms, PhoneProfile
from gridvend.vending.models import Sale
from tests.gateways.ussd.conftest import CALLER, STRANGER, Phones

pytestmark = pytest.mark.django_db


def reply_to(message_id: str) -> str:
    return str(OutboxMessage.objects.get(key=f"sms:phone-sms:{message_id}").payload["text"])


def test_an_sms_purchase_ends_in_a_token_the_meter_accepts(phones: Phones) -> None:
    meter = phones.meter()
    reply = phones.sms("ATXid_1", f"  buy  {meter.number}   500 ")
    assert reply.status_code == 200 and reply.json() == {"status": "received", "outcome": ""}
    assert "Approve the M-Pesa prompt for KES 500.00" in reply_to("ATXid_1")
    push = StkPush.objects.get()
    assert (push.phone, push.channel, push.amount_minor) == ("254712345126", "sms", 50000)
    phones.paybill.deliver_held()
    push.refresh_from_db()
    assert push.state == StkState.PAID
    _payment, sale, digits = phones.paybill.sold(push.payment)
    assert phones.paybill.tokens_accepted(meter, digits)
    assert OutboxMessage.objects.get(key=f"sms:sale:{sale.reference}").payload["to"] == CALLER
    assert InboundSms.objects.get().stk_push == push


def test_the_same_inbound_message_twice_pushes_once(phones: Phones) -> None:
    meter = phones.meter()
    phones.sms("ATXid_2", f"BUY {meter.number} 500")
    again = phones.sms("ATXid_2", f"BUY {meter.number} 500")
    assert again.json()["status"] == "duplicate"
    assert StkPush.objects.count() == 1 and InboundSms.objects.count() == 1
    phones.paybill.deliver_held()
    assert Sale.objects.filter(meter=meter).count() == 1


def test_token_and_balance_only_to_the_registered_phone_or_the_payer(phones: Phones) -> None:
    meter = phones.meter(phone="+254733000222")
    phones.sms("ATXid_3", f"BUY {meter.number} 500")
    phones.paybill.deliver_held()
    sale = Sale.objects.get(meter=meter)
    first = sale.tokens.order_by("sequence").first()
    assert first is not None
    grouped = " ".join(first.digits[i : i + 4] for i in range(0, 20, 4))
    phones.sms("ATXid_4", f"TOKEN {meter.number}")
    assert grouped in reply_to("ATXid_4") and sale.reference in reply_to("ATXid_4")
    phones.sms("ATXid_5", f"token {meter.number}", phone="+254733000222")
    assert grouped in reply_to("ATXid_5")
    refused = phones.sms("ATXid_6", f"TOKEN {meter.number}", phone=STRANGER)
    assert refused.json()["outcome"] == "PHONE_NOT_ALLOWED"
    assert grouped not in reply_to("ATXid_6")
    assert "Only the phone registered" in reply_to("ATXid_6")
    phones.sms("ATXid_7", f"BAL {meter.number}", phone=STRANGER)
    assert "Only the phone registered" in reply_to("ATXid_7")
    phones.sms("ATXid_8", f"BAL {meter.number}")
    assert reply_to("ATXid_8").startswith(f"Meter {meter.number}: debt KES 0.00.")


def test_lang_changes_the_language_of_the_answers(phones: Phones) -> None:
    phones.sms("ATXid_9", "lang AR")
    assert PhoneProfile.objects.get(phone=CALLER).language == "ar"
    assert reply_to("ATXid_9").startswith("حُفظت اللغة.")
    phones.sms("ATXid_10", "what?")
    assert reply_to("ATXid_10").startswith("لم تُفهم الرسالة.")
    assert OutboxMessage.objects.get(key="sms:phone-sms:ATXid_10").payload["language"] == "ar"


def test_refusals_are_clear(phones: Phones) -> None:
    phones.sms("ATXid_11", "BUY 01234567890 500")
    assert InboundSms.objects.get(message_id="ATXid_11").outcome == "METER_NOT_FOUND"
    assert "01234567890" in reply_to("ATXid_11")
    meter = phones.meter()
    phones.sms("ATXid_12", f"BUY {meter.number} 999999999")
    assert InboundSms.objects.get(message_id="ATXid_12").outcome == "AMOUNT_ABOVE_MAXIMUM"
    assert not StkPush.objects.exists()
    phones.sms("ATXid_13", "HELP")
    assert "BUY <meter> <amount>" in reply_to("ATXid_13")


def test_a_phone_past_its_hourly_budget_is_warned_once_then_not_answered(
    phones: Phones, settings: Any
) -> None:
    settings.PHONE_SMS_PER_HOUR = 2
    for n in range(5):
        phones.sms(f"ATXid_r{n}", "HELP")
    answered = OutboxMessage.objects.filter(key__startswith="sms:phone-sms:ATXid_r").count()
    assert answered == 3  # two answers and one warning
    assert "Too many requests" in reply_to("ATXid_r2")
    assert InboundSms.objects.filter(outcome="PHONE_TOO_MANY_REQUESTS").count() == 3


@pytest.mark.parametrize(
    "form",
    [
        {"id": "", "from": CALLER, "text": "HELP"},
        {"id": "x", "from": "nonsense", "text": "HELP"},
        {"id": "x" * 101, "from": CALLER, "text": "HELP"},
    ],
)
def test_a_broken_inbound_message_is_refused_with_a_code(phones: Phones, form: dict) -> None:
    reply = phones.post("sms-inbound", form)
    assert reply.status_code == 400 and reply.json()["errorCode"]
    assert not InboundSms.objects.exists()


def test_a_message_on_several_lines_or_with_control_characters_is_read(phones: Phones) -> None:
    meter = phones.meter()
    reply = phones.sms("ATXid_ml", f"BUY\r\n{meter.number}\n500\x07\u202e")
    assert reply.status_code == 200 and reply.json()["outcome"] == ""
    assert StkPush.objects.count() == 1
    assert InboundSms.objects.get().text == f"BUY  {meter.number} 500"


def test_an_inbound_message_from_another_address_is_refused(phones: Phones) -> None:
    reply = phones.post("sms-inbound", {"id": "x", "from": CALLER, "text": "HELP"}, ip="10.9.9.9")
    assert reply.status_code == 403 and not InboundSms.objects.exists()


def _sent_token_sms(message_id: str) -> OutboxMessage:
    row = outbox.put(kind="sms", key="sms:sale:STEST", payload={"to": CALLER, "text": "t"})
    OutboxMessage.objects.filter(pk=row.pk).update(status="sent", receipt=message_id)
    return row


def test_a_delivery_report_is_recorded_once(phones: Phones) -> None:
    _sent_token_sms("ATXid_d1")
    assert phones.report("ATXid_d1", "Success").json() == {"status": "recorded"}
    assert phones.report("ATXid_d1", "Success").json() == {"status": "duplicate"}
    assert DeliveryReport.objects.count() == 1
    assert DeliveryReport.objects.get().outbox is not None


def test_a_failed_message_is_resent_twice_then_flagged_for_customer_care(phones: Phones) -> None:
    sent = _sent_token_sms("ATXid_f0")
    phones.report("ATXid_f0", "Failed", failureReason="DeliveryFailure")
    phones.report("ATXid_f0", "Failed", failureReason="DeliveryFailure")  # a repeat
    first = OutboxMessage.objects.get(key="sms:sale:STEST:resend-1")
    assert first.payload == sent.payload and first.status == "pending"
    OutboxMessage.objects.filter(pk=first.pk).update(status="sent", receipt="ATXid_f1")
    phones.report("ATXid_f1", "Rejected")
    second = OutboxMessage.objects.get(key="sms:sale:STEST:resend-2")
    OutboxMessage.objects.filter(pk=second.pk).update(status="sent", receipt="ATXid_f2")
    assert not DeliveryReport.objects.filter(needs_care=True).exists()
    phones.report("ATXid_f2", "Failed")
    flagged = DeliveryReport.objects.get(needs_care=True)
    assert flagged.message_id == "ATXid_f2"
    assert OutboxMessage.objects.filter(key__startswith="sms:sale:STEST").count() == 3


def test_a_delivery_report_with_a_bad_retry_count_is_refused(phones: Phones) -> None:
    reply = phones.report("ATXid_b", "Failed", retryCount="many")
    assert reply.status_code == 400 and reply.json()["errorCode"] == "PHONE_CALLBACK_INVALID"
    assert not DeliveryReport.objects.exists()


def test_the_back_office_lists_the_messages_and_what_waits_for_care(phones: Phones) -> None:
    from tests.signin import signed_in

    _sent_token_sms("ATXid_c0")
    OutboxMessage.objects.filter(key="sms:sale:STEST").update(key="sms:sale:STEST:resend-2")
    phones.report("ATXid_c0", "Failed", failureReason="UserIsInactive")
    gave_up = outbox.put(kind="sms", key="sms:sale:SGAVEUP", payload={"to": CALLER, "text": "t"})
    OutboxMessage.objects.filter(pk=gave_up.pk).update(
        status="failed", next_attempt_at=None, last_error="InvalidPhoneNumber"
    )
    phones.sms("ATXid_c1", "HELP")
    client = signed_in(phones.paybill.care)
    page = client.get("/phone/sms/", {"command": "HELP"}).content.decode()
    assert "UserIsInactive" in page and "sms:sale:SGAVEUP" in page and "HELP" in page
    assert "Send BUY &lt;meter&gt; &lt;amount&gt; to buy" in page  # the reply beside it
    assert client.get("/phone/sms/", {"command": "BOGUS"}).status_code == 400
    phones.screen("ATUid_bo", "")
    sessions = client.get("/phone/ussd-sessions/", {"q": "254712345126"}).content.decode()
    assert "254712345126" in sessions


def test_a_phone_that_chose_no_language_is_answered_in_its_accounts(phones: Phones) -> None:
    meter = phones.meter(phone=CALLER)
    Customer.objects.filter(meters=meter).update(language="ar")
    phones.sms("ATXid_l1", f"BAL {meter.number}")
    assert OutboxMessage.objects.get(key="sms:phone-sms:ATXid_l1").payload["language"] == "ar"
    assert reply_to("ATXid_l1").startswith("العداد")
    # A choice the phone made wins over the account's.
    phones.sms("ATXid_l2", "LANG ZH")
    phones.sms("ATXid_l3", f"BAL {meter.number}")
    assert OutboxMessage.objects.get(key="sms:phone-sms:ATXid_l3").payload["language"] == "zh-hans"
    # Two accounts on one phone in different languages: the utility's own.
    other = phones.meter(name="Jane Wambui", phone=STRANGER)
    Customer.objects.filter(meters=other).update(language="ar")
    second = phones.meter(name="Jane Wambui", phone=STRANGER)
    Customer.objects.filter(meters=second).update(language="zh-hans")
    phones.sms("ATXid_l4", "HELP", phone=STRANGER)
    assert OutboxMessage.objects.get(key="sms:phone-sms:ATXid_l4").payload["language"] == "en"
