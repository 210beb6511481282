"""STK push from the cashier screen: the cashier asks the customer's phone to pay for the meter
on the screen; the page follows the push (waiting, then paid and on to the sale whose token
prints as any sale's, or cancelled, unreachable, timed out); the same form sent twice prompts
once; nothing enters the cashier's drawer. Against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from gridvend.mobilemoney.models import StkPush, StkState
from gridvend.vending.models import Sale
from tests import factories
from tests.gateways.mobilemoney.conftest import PHONE, Paybill

pytestmark = pytest.mark.django_db


def till(paybill: Paybill) -> Client:
    client = Client()
    client.force_login(paybill.world.cashier)
    return client


def ask(client: Client, bill: Paybill, number: str, **extra: Any) -> Any:
    body = {
        "amount": "300",
        "phone": "0712 345 126",
        "paybill": bill.provider.pk,
        "client_reference": "cashier-stk-0001",
        **extra,
    }
    return client.post(f"/cashier/meters/{number}/stk/", body)


def test_a_cashier_prompts_the_phone_and_the_paid_push_becomes_a_sale_with_its_token(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    client = till(paybill)
    page = client.get(f"/cashier/meters/{meter.number}/").content.decode()
    assert "Ask the customer&#x27;s phone to pay" in page or "phone to pay" in page
    asked = ask(client, paybill, meter.number)
    push = StkPush.objects.get()
    assert asked.status_code == 302 and asked["Location"] == f"/cashier/stk/{push.pk}/"
    # Sent again (a double click, a reload): the phone is prompted once.
    assert ask(client, paybill, meter.number)["Location"] == f"/cashier/stk/{push.pk}/"
    assert len(paybill.daraja.pushes) == 1 and push.channel == "cashier"

    waiting = client.get(f"/cashier/stk/{push.pk}/").content.decode()
    assert 'data-state="requested"' in waiting and 'hx-trigger="every 3s"' in waiting
    paybill.deliver_held()  # the customer enters the PIN; the callback comes
    polled = client.get(f"/cashier/stk/{push.pk}/", HTTP_HX_REQUEST="true")
    sale = Sale.objects.get(meter=meter)
    assert polled.status_code == 204
    assert polled["HX-Redirect"] == f"/cashier/sales/{sale.reference}/"
    shown = client.get(f"/cashier/sales/{sale.reference}/").content.decode()
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    assert paybill.tokens_accepted(meter, digits)
    assert "print-receipt" in shown and sale.tender_minor == 30000
    # The money is at the provider: the sale is the paybill's, not in the cashier's shift.
    assert sale.shift_id is None and sale.vending_point_id != paybill.world.point.pk
    assert sale.vending_point is not None
    assert sale.vending_point.float_account == paybill.partner.float_account


@pytest.mark.parametrize(
    ("outcome", "state", "words"),
    [
        ("1032", StkState.CANCELLED, "cancelled the payment"),
        ("1037", StkState.UNREACHABLE, "could not be reached"),
        ("1", StkState.FAILED, "did not go through"),
    ],
)
def test_the_screen_shows_how_an_unpaid_push_ended(
    paybill: Paybill, outcome: str, state: str, words: str
) -> None:
    meter = paybill.world.add_meter()
    client = till(paybill)
    paybill.daraja.answer_next(PHONE, outcome)
    ask(client, paybill, meter.number)
    paybill.deliver_held()
    push = StkPush.objects.get()
    assert push.state == state
    page = client.get(f"/cashier/stk/{push.pk}/").content.decode()
    assert words in page and "hx-trigger" not in page
    assert not Sale.objects.filter(meter=meter).exists()


def test_a_phone_that_never_answers_times_out_on_the_screen(paybill: Paybill) -> None:
    from gridvend.mobilemoney import services

    meter = paybill.world.add_meter()
    client = till(paybill)
    # Never answered: the sandbox knows no such push, the query answers "being processed".
    ask(client, paybill, meter.number)
    paybill.daraja.take_held()
    push = StkPush.objects.get()
    paybill.daraja.pushes.clear()
    StkPush.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    for _ in range(5):
        services.query_late_pushes(provider=paybill.provider)
    push.refresh_from_db()
    assert push.state == StkState.TIMED_OUT
    assert (
        "No answer from the phone in time"
        in client.get(f"/cashier/stk/{push.pk}/").content.decode()
    )


def test_hostile_input_is_refused_on_the_form_and_nobody_is_prompted(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    client = till(paybill)
    for extra in (
        {"amount": "abc"},
        {"amount": "1e999"},
        {"amount": "-300"},
        {"amount": "9" * 40},
        {"phone": "12"},
        {"phone": "0712\u202e345126"},
        {"paybill": "999999"},
        {"paybill": "x"},
        {"client_reference": ""},
        {"client_reference": "r" * 65},
    ):
        answer = ask(client, paybill, meter.number, **extra)
        assert answer.status_code == 400, extra
    assert ask(client, paybill, meter.number, amount="300.50").status_code == 200  # refused
    assert paybill.daraja.pushes == {} and not StkPush.objects.filter(state="requested").exists()
    assert ask(client, paybill, "99999999999").status_code == 404


def test_another_cashiers_push_is_not_found(paybill: Paybill) -> None:
    meter = paybill.world.add_meter()
    ask(till(paybill), paybill, meter.number)
    push = StkPush.objects.get()
    other = factories.user(paybill.world.tree.north_sc, paybill.world.cashier.role, ("cashier",))
    client = Client()
    client.force_login(other)
    assert client.get(f"/cashier/stk/{push.pk}/").status_code == 404
