"""Replays of Daraja's published C2B payloads (CHANNELS.md §2.2-2.4, §2.7) against the real
callbacks: validation answers, confirmations with and without validation, repeats, masked
phones, references with spaces and lower case, unsellable payments parked in suspense and then
resolved by customer care; every token returned is entered into the meter simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridvend.customers import services as customers
from gridvend.jobs.models import OutboxMessage
from gridvend.meters import services as meters
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import MobilePayment, PaymentState, RawCallback
from gridvend.partners.models import PartnerRequest
from gridvend.vending.models import Sale
from tests.gateways.mobilemoney.conftest import Paybill, confirmation

pytestmark = pytest.mark.django_db


def sale_tokens(payment: MobilePayment) -> list[str]:
    assert payment.sale is not None
    return list(payment.sale.tokens.order_by("sequence").values_list("digits", flat=True))


def reference(payment: MobilePayment) -> str:
    assert payment.sale is not None
    return payment.sale.reference


def test_a_valid_meter_is_accepted_by_validation_then_sold_on_confirmation(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    body = confirmation("RKL51ZDR4F", meter.number, OrgAccountBalance="")
    checked = paybill.post("c2b-validation", body)
    assert checked.status_code == 200
    assert checked.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert not MobilePayment.objects.exists()  # validation alone moves nothing

    reply = paybill.post("c2b-confirmation", confirmation("RKL51ZDR4F", meter.number))
    assert reply.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    payment = MobilePayment.objects.get()
    assert payment.state == PaymentState.SOLD
    assert payment.amount_minor == 50000
    assert payment.sale is not None and payment.sale.meter_id == meter.pk
    assert paybill.tokens_accepted(meter, sale_tokens(payment))


def test_validation_rejects_an_unknown_meter_and_a_small_amount_with_the_providers_codes(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    unknown = paybill.post("c2b-validation", confirmation("V1", "04999999999"))
    assert unknown.json() == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    small = paybill.post("c2b-validation", confirmation("V2", meter.number, "10.00"))
    assert small.json() == {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
    words = paybill.post("c2b-validation", confirmation("V3", meter.number, "ten"))
    assert words.json() == {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}
    assert not MobilePayment.objects.exists()


def test_a_confirmation_without_validation_sells(paybill: Paybill) -> None:
    """Validation is off by default at Safaricom: the confirmation alone must do."""
    meter = paybill.world.add_meter()
    paybill.daraja.pay_bill(phone="254712345126", account=meter.number, amount=200)
    (reply,) = paybill.deliver_held()
    assert reply.json()["ResultCode"] == 0
    payment = MobilePayment.objects.get()
    assert payment.state == PaymentState.SOLD and payment.amount_minor == 20000
    assert paybill.tokens_accepted(meter, sale_tokens(payment))


def test_the_same_confirmation_three_times_sells_once(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    body = confirmation("RKL51ZDR4G", meter.number)
    replies = [paybill.post("c2b-confirmation", body) for _ in range(3)]
    assert all(r.json() == {"ResultCode": 0, "ResultDesc": "Success"} for r in replies)
    assert MobilePayment.objects.count() == 1
    assert Sale.objects.filter(meter=meter).count() == 1
    assert PartnerRequest.objects.filter(request_id="RKL51ZDR4G").count() == 1
    # Every one of the three is kept for the auditor, each pointing at the one payment.
    payment = MobilePayment.objects.get()
    assert RawCallback.objects.filter(payment=payment).count() == 3


def test_a_reference_with_spaces_and_lower_case_finds_the_meter_and_the_account(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    spaced = " ".join(meter.number[i : i + 4] for i in range(0, len(meter.number), 4))
    paybill.post("c2b-confirmation", confirmation("RKL51ZDR50", f" {spaced} "))
    account = paybill.world.customer(meter).account_number
    paybill.post("c2b-confirmation", confirmation("RKL51ZDR51", account.lower(), "100"))
    first, second = MobilePayment.objects.order_by("pk")
    assert first.account_ref == meter.number and first.state == PaymentState.SOLD
    assert second.account_ref == account.upper() and second.state == PaymentState.SOLD
    assert second.sale is not None and second.sale.meter_id == meter.pk


def test_a_masked_phone_gets_its_token_at_the_accounts_registered_phone(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    customer = paybill.world.customer(meter)
    customers.update_customer(actor=paybill.world.admin, customer=customer, phone="0722000111")
    paybill.post("c2b-confirmation", confirmation("RKL51ZDR52", meter.number))
    payment = MobilePayment.objects.get()
    assert payment.is_msisdn_masked and payment.state == PaymentState.SOLD
    sms = OutboxMessage.objects.get(key__contains=reference(payment))
    assert sms.payload["to"] == "+254722000111"
    for group in sale_tokens(payment):
        spaced = " ".join(group[i : i + 4] for i in range(0, 20, 4))
        assert spaced in sms.payload["text"]


def test_an_unmasked_phone_gets_the_token_itself(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    paybill.post(
        "c2b-confirmation", confirmation("RKL51ZDR53", meter.number, MSISDN="254711222333")
    )
    payment = MobilePayment.objects.get()
    assert not payment.is_msisdn_masked
    sms = OutboxMessage.objects.get(key__contains=reference(payment))
    assert sms.payload["to"] == "+254711222333"


def test_empty_names_and_unknown_fields_are_fine(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    body = confirmation("RKL51ZDR54", meter.number, FirstName="", Surprise={"x": [1, 2]})
    assert paybill.post("c2b-confirmation", body).json()["ResultCode"] == 0
    assert MobilePayment.objects.get().payer_name == ""


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("10.00", "AMOUNT_BELOW_MINIMUM"),
        ("500.50", "MOBILE_AMOUNT_NOT_WHOLE"),
        ("five hundred", "MOBILE_AMOUNT_UNREADABLE"),
        ("1e3", "MOBILE_AMOUNT_UNREADABLE"),
        (True, "MOBILE_AMOUNT_UNREADABLE"),
        ("-500", "MOBILE_AMOUNT_UNREADABLE"),
    ],
)
def test_an_amount_that_cannot_be_sold_goes_to_suspense(
    paybill: Paybill, amount: object, code: str
) -> None:
    meter = paybill.world.add_meter()
    reply = paybill.post("c2b-confirmation", confirmation("RKL51ZDR55", meter.number, amount))
    assert reply.status_code == 200 and reply.json()["ResultCode"] == 0
    payment = MobilePayment.objects.get()
    assert (payment.state, payment.suspense_code) == (PaymentState.SUSPENSE, code)
    assert not Sale.objects.filter(meter=meter).exists()


def test_a_decimal_number_amount_is_read_without_float(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    raw = (
        b'{"TransID": "RKL51ZDR56", "TransAmount": 300.00, "BillRefNumber": "'
        + meter.number.encode()
        + b'", "MSISDN": "2547 ***** 126", "TransTime": "20261201121325"}'
    )
    paybill.post("c2b-confirmation", None, raw=raw)
    payment = MobilePayment.objects.get()
    assert payment.amount_minor == 30000 and payment.state == PaymentState.SOLD
    assert Decimal(payment.amount_text) == Decimal("300.00")


def test_a_blocked_meter_goes_to_suspense_and_is_sold_once_unblocked(paybill: Paybill) -> None:
    world = paybill.world
    meter = world.add_meter()
    meters.block_meter(actor=world.admin, meter=meter, reason="tamper")
    paybill.post("c2b-confirmation", confirmation("RKL51ZDR57", meter.number))
    payment = MobilePayment.objects.get()
    assert (payment.state, payment.suspense_code) == (PaymentState.SUSPENSE, "METER_BLOCKED")
    meters.unblock_meter(actor=world.admin, meter=meter, reason="inspected")
    care = world.supervisor
    sold = services.resolve_by_sale(
        actor=care, payment=payment, meter_number=meter.number, note="meter unblocked"
    )
    assert sold.state == PaymentState.SOLD
    assert paybill.tokens_accepted(meter, sale_tokens(sold))


def test_an_unknown_meter_waits_in_suspense_until_customer_care_sells_it_to_the_right_one(
    paybill: Paybill,
) -> None:
    world = paybill.world
    meter = world.add_meter()
    wrong = meter.number[:-1] + str((int(meter.number[-1]) + 1) % 10)
    reply = paybill.post("c2b-confirmation", confirmation("RKL51ZDR58", wrong))
    assert reply.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    payment = MobilePayment.objects.get()
    assert payment.state == PaymentState.SUSPENSE
    assert payment.suspense_code in {"MOBILE_ACCOUNT_UNKNOWN", "METER_NOT_FOUND"}
    assert not Sale.objects.exists() or not Sale.objects.filter(meter=meter).exists()

    # The confirmation again (a provider retry) changes nothing.
    paybill.post("c2b-confirmation", confirmation("RKL51ZDR58", wrong))
    assert MobilePayment.objects.get().state == PaymentState.SUSPENSE

    sold = services.resolve_by_sale(
        actor=paybill.care,
        payment=payment,
        meter_number=meter.number,
        note="customer called: one digit wrong",
    )
    assert sold.state == PaymentState.SOLD and sold.sale is not None
    assert sold.sale.meter_id == meter.pk and sold.sale.tender_minor == 50000
    assert paybill.tokens_accepted(meter, sale_tokens(sold))
    # A second click sells nothing more.
    with pytest.raises(services.payments.MobilePaymentNotInSuspense):
        services.resolve_by_sale(
            actor=paybill.care, payment=sold, meter_number=meter.number, note="again"
        )
    assert Sale.objects.filter(meter=meter).count() == 1


def test_control_and_bidi_characters_in_the_reference_never_lose_the_payment(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    reference = f"\u202e{meter.number}\u200f\x07"
    body = confirmation("RKL51ZDR61", reference, FirstName="\u202eEVIL\u0000")
    assert paybill.post("c2b-confirmation", body).json() == {
        "ResultCode": 0,
        "ResultDesc": "Success",
    }
    payment = MobilePayment.objects.get()
    assert payment.account_ref == meter.number and payment.payer_name == "EVIL"
    assert payment.state == PaymentState.SOLD


def test_a_switched_off_paybill_still_records_its_confirmations_in_suspense(
    paybill: Paybill,
) -> None:
    from dataclasses import replace

    meter = paybill.world.add_meter()
    current = services.ProviderSettings(
        **{
            name: getattr(paybill.provider, name)
            for name in services.ProviderSettings.__dataclass_fields__
        }
    )
    services.configure_provider(
        actor=paybill.world.admin,
        partner=paybill.partner,
        values=replace(current, is_enabled=False),
    )
    checked = paybill.post("c2b-validation", confirmation("RKL51ZDR62", meter.number))
    assert checked.json() == {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
    assert paybill.post("c2b-confirmation", confirmation("RKL51ZDR62", meter.number)).json() == {
        "ResultCode": 0,
        "ResultDesc": "Success",
    }
    payment = MobilePayment.objects.get()
    assert (payment.state, payment.suspense_code) == (
        PaymentState.SUSPENSE,
        "MOBILE_PROVIDER_DISABLED",
    )
    assert not Sale.objects.filter(meter=meter).exists()


def test_a_confirmation_for_another_shortcode_is_kept_not_sold(paybill: Paybill) -> None:
    """Like validation, the confirmation checks BusinessShortCode: money paid to another
    paybill is acknowledged and its callback kept with the problem, never sold here."""
    meter = paybill.world.add_meter()
    body = confirmation("RKL51OTHER", meter.number, BusinessShortCode="999999")
    reply = paybill.post("c2b-confirmation", body)
    assert reply.status_code == 200 and reply.json()["ResultCode"] == 0
    assert not MobilePayment.objects.exists()
    assert RawCallback.objects.get().problem == "MOBILE_CALLBACK_INVALID"
