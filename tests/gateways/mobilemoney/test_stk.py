"""STK push started by gridvend, against the sandbox over HTTP: success, cancelled (1032),
unreachable (1037), and a callback that never comes followed by the status query; the sale made
once, whichever answer comes first or twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gridvend.identity.roles import Capability, Role
from gridvend.jobs.models import OutboxMessage
from gridvend.mobilemoney import services
from gridvend.mobilemoney.errors import MobilePhoneInvalid
from gridvend.mobilemoney.models import (
    MobilePayment,
    PaymentSource,
    PaymentState,
    StkPush,
    StkState,
)
from gridvend.vending.models import Sale
from tests import factories
from tests.gateways.mobilemoney.conftest import PHONE, Paybill

pytestmark = pytest.mark.django_db


def push(paybill: Paybill, meter_number: str, amount: str = "300") -> StkPush:
    return services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=meter_number,
        amount=paybill.world.money(amount),
        channel="cashier",
    )


def test_a_paid_push_sells_and_texts_the_token_to_the_phone(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    sent = push(paybill, meter.number)
    assert sent.state == StkState.REQUESTED
    assert (sent.checkout_request_id or "").startswith("ws_CO_")
    assert sent.phone == PHONE
    (reply,) = paybill.deliver_held()
    assert reply.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    sent.refresh_from_db()
    assert sent.state == StkState.PAID and sent.payment is not None
    payment, sale, digits = paybill.sold(sent.payment)
    assert payment.state == PaymentState.SOLD and payment.source == PaymentSource.STK_CALLBACK
    assert payment.trans_id.startswith("S") and payment.amount_minor == 30000
    assert paybill.tokens_accepted(meter, digits)
    sms = OutboxMessage.objects.get(key__contains=sale.reference)
    assert sms.payload["to"] == f"+{PHONE}"


@pytest.mark.parametrize(
    ("outcome", "state"),
    [("1032", StkState.CANCELLED), ("1037", StkState.UNREACHABLE), ("1", StkState.FAILED)],
)
def test_a_push_that_is_not_paid_closes_with_the_providers_code_and_sells_nothing(
    paybill: Paybill, outcome: str, state: str
) -> None:
    meter = paybill.world.add_meter()
    paybill.daraja.answer_next(PHONE, outcome)
    sent = push(paybill, meter.number)
    paybill.deliver_held()
    sent.refresh_from_db()
    assert (sent.state, sent.result_code) == (state, outcome)
    assert not MobilePayment.objects.exists() and not Sale.objects.filter(meter=meter).exists()


def test_a_missing_callback_is_answered_by_the_status_query_and_then_the_pull_gives_the_receipt(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    paybill.daraja.answer_next(PHONE, "silent")
    sent = push(paybill, meter.number)
    assert paybill.daraja.take_held() == []  # the callback is lost
    # Not yet late: the job leaves it alone.
    assert services.query_late_pushes(provider=paybill.provider) == 0
    StkPush.objects.filter(pk=sent.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert services.query_late_pushes(provider=paybill.provider) == 1
    sent.refresh_from_db()
    assert sent.state == StkState.PAID
    payment, _sale, digits = paybill.sold(sent.payment)
    assert payment.state == PaymentState.SOLD and payment.source == PaymentSource.STK_QUERY
    assert payment.trans_id == ""  # the status query gives no receipt
    assert paybill.tokens_accepted(meter, digits)

    # The back-fill finds the receipt in the provider's transactions and sells nothing more.
    result = services.backfill(provider=paybill.provider)
    assert (result.applied, result.receipts) == (0, 1)
    payment.refresh_from_db()
    assert payment.trans_id == paybill.daraja.pushes[sent.checkout_request_id or ""]["receipt"]
    assert Sale.objects.filter(meter=meter).count() == 1
    assert services.backfill(provider=paybill.provider).applied == 0


def test_a_late_callback_after_the_status_query_changes_nothing(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    sent = push(paybill, meter.number)
    held = paybill.daraja.take_held()
    StkPush.objects.filter(pk=sent.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    services.query_late_pushes(provider=paybill.provider)
    paybill.daraja.held.extend(held)
    paybill.deliver_held()
    paybill.deliver_held()
    assert Sale.objects.filter(meter=meter).count() == 1
    assert MobilePayment.objects.get().trans_id.startswith("S")  # the receipt, learnt late


def test_a_push_is_refused_before_the_phone_is_prompted_when_it_would_not_sell(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    with pytest.raises(MobilePhoneInvalid):
        services.request_stk_push(
            actor=paybill.world.admin,
            provider=paybill.provider,
            phone="0812 12",
            meter_number=meter.number,
            amount=paybill.world.money("300"),
            channel="cashier",
        )
    from gridvend.kernel.errors import DomainError

    with pytest.raises(DomainError) as refused:
        push(paybill, meter.number, amount="5")
    assert refused.value.code == "AMOUNT_BELOW_MINIMUM"
    assert not StkPush.objects.exists() and paybill.daraja.pushes == {}


def test_an_unreachable_provider_refuses_the_push_and_keeps_it_as_refused(
    paybill: Paybill,
) -> None:
    from gridvend.mobilemoney.errors import MobileProviderUnavailable

    meter = paybill.world.add_meter()
    paybill.daraja.stop()
    with pytest.raises(MobileProviderUnavailable):
        push(paybill, meter.number)
    refused = StkPush.objects.get()
    assert refused.state == StkState.REFUSED and refused.checkout_request_id is None
    assert refused.result_code == "MOBILE_PROVIDER_UNAVAILABLE"
    assert not MobilePayment.objects.exists()


def test_wrong_credentials_are_refused_by_the_sandbox_as_by_daraja(
    paybill: Paybill, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridvend.mobilemoney.errors import MobileProviderRefused

    meter = paybill.world.add_meter()
    monkeypatch.setenv("GRIDVEND_TEST_MPESA_SECRET", "not-the-secret")
    with pytest.raises(MobileProviderRefused) as refused:
        push(paybill, meter.number)
    assert refused.value.params["result_code"] == "400.008.01"
    assert paybill.daraja.pushes == {}


def silent_push(paybill: Paybill, meter_number: str, phone: str = "0712 345 126") -> StkPush:
    """A push the customer paid whose callback was lost."""
    number = "254" + phone.replace(" ", "")[1:]
    paybill.daraja.answer_next(number, "silent")
    return services.request_stk_push(
        actor=paybill.world.admin,
        provider=paybill.provider,
        phone=phone,
        meter_number=meter_number,
        amount=paybill.world.money("300"),
        channel="cashier",
    )


def test_a_pulled_row_finds_the_one_push_still_waiting_and_sells_once(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    sent = silent_push(paybill, meter.number)
    # The pull comes before the status query: the row is that push's money (same account,
    # amount, phone, minutes later), so the push is paid with its receipt, sold once.
    result = services.backfill(provider=paybill.provider)
    assert (result.applied, result.receipts) == (0, 1)
    sent.refresh_from_db()
    receipt = paybill.daraja.pushes[sent.checkout_request_id or ""]["receipt"]
    assert sent.state == StkState.PAID and sent.payment is not None
    assert sent.payment.trans_id == receipt and sent.payment.state == PaymentState.SOLD
    # The status query later says paid too: nothing more is sold.
    StkPush.objects.filter(pk=sent.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    services.query_late_pushes(provider=paybill.provider)
    assert Sale.objects.filter(meter=meter).count() == 1
    assert MobilePayment.objects.count() == 1


def test_receipts_are_tied_by_phone_when_two_pushes_share_meter_and_amount(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    mine = silent_push(paybill, meter.number, "0712 345 126")
    theirs = silent_push(paybill, meter.number, "0722 000 111")
    StkPush.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert services.query_late_pushes(provider=paybill.provider) == 2
    assert MobilePayment.objects.filter(trans_id="").count() == 2  # paid, no receipts yet
    result = services.backfill(provider=paybill.provider)
    assert (result.applied, result.receipts) == (0, 2)
    for push_row in (mine, theirs):
        push_row.refresh_from_db()
        assert push_row.payment is not None
        receipt = paybill.daraja.pushes[push_row.checkout_request_id or ""]["receipt"]
        assert push_row.payment.trans_id == receipt
    assert Sale.objects.filter(meter=meter).count() == 2


def test_an_ambiguous_pulled_row_goes_to_suspense_for_care_and_sells_nothing(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    # Two pushes, same meter, same amount, same phone: both paid, both callbacks lost.
    first = silent_push(paybill, meter.number)
    second = silent_push(paybill, meter.number)
    StkPush.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    services.query_late_pushes(provider=paybill.provider)
    assert Sale.objects.filter(meter=meter).count() == 2  # sold on the status query's word
    result = services.backfill(provider=paybill.provider)
    # Each pulled row fits both pushes: neither is guessed; each waits for care, unsold.
    assert (result.applied, result.receipts) == (2, 0)
    held = MobilePayment.objects.exclude(trans_id="")
    assert held.count() == 2
    assert set(held.values_list("state", "suspense_code")) == {
        (PaymentState.SUSPENSE, "MOBILE_STK_MATCH_AMBIGUOUS")
    }
    receipts = {
        paybill.daraja.pushes[p.checkout_request_id or ""]["receipt"] for p in (first, second)
    }
    assert set(held.values_list("trans_id", flat=True)) == receipts
    for push_row in (first, second):
        push_row.refresh_from_db()
        assert push_row.payment is not None and push_row.payment.trans_id == ""
    assert Sale.objects.filter(meter=meter).count() == 2
    # Again: nothing more.
    assert services.backfill(provider=paybill.provider).applied == 0


def test_the_same_client_reference_prompts_the_phone_once(paybill: Paybill) -> None:
    from gridvend.kernel.errors import DuplicateRequest

    meter = paybill.world.add_meter()
    asked: dict[str, Any] = {
        "actor": paybill.world.admin,
        "provider": paybill.provider,
        "phone": "0712 345 126",
        "meter_number": meter.number,
        "amount": paybill.world.money("300"),
        "channel": "cashier",
        "client_reference": "cashier-stk-1",
    }
    first = services.request_stk_push(**asked)
    again = services.request_stk_push(**asked)
    assert again.pk == first.pk and len(paybill.daraja.pushes) == 1
    with pytest.raises(DuplicateRequest):
        services.request_stk_push(**{**asked, "amount": paybill.world.money("400")})
    assert StkPush.objects.count() == 1


def test_a_cashier_is_offered_the_paybills_that_serve_their_unit(paybill: Paybill) -> None:
    from gridvend.mobilemoney.selectors import stk_paybills
    from gridvend.partners.models import Partner

    tree = paybill.world.tree
    north = paybill.world.cashier  # at North SC
    south = factories.user(tree.south_sc, Role.OPERATOR, (Capability.CASHIER,))
    # A paybill at the root serves every counter.
    assert list(stk_paybills(north)) == list(stk_paybills(south)) == [paybill.provider]
    # A region's paybill serves that region's counters, and the people above it; not another
    # region's.
    Partner.objects.filter(pk=paybill.partner.pk).update(org_unit=tree.south)
    assert list(stk_paybills(north)) == []
    assert list(stk_paybills(south)) == [paybill.provider]
    assert list(stk_paybills(paybill.world.admin)) == [paybill.provider]
