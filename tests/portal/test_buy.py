"""Buying from the portal: the trial breakdown, the STK push answered by the sandbox, the token on
the page (which reloads itself without script until the phone answers), by SMS to the phone that
paid and by e-mail to the login; a second submit never sells twice."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from gridvend.jobs.models import OutboxMessage
from gridvend.logins.models import CustomerLogin, PortalPurchase
from gridvend.logins.tasks import email_portal_tokens
from gridvend.mobilemoney.models import StkPush
from gridvend.vending.models import Sale
from tests.portal.conftest import Portal

pytestmark = pytest.mark.django_db

REQUEST = "portal-test-request-0001"


def _buy(portal: Portal, client: Client, **extra: Any) -> dict[str, str]:
    return {
        "meter": portal.meter.number,
        "amount": "300",
        "phone": "0712 345 126",
        "method": "mobile_money",
        "request_id": REQUEST,
        **extra,
    }


def test_the_breakdown_is_shown_before_paying_and_nothing_is_asked_of_the_phone(
    portal: Portal,
) -> None:
    client = portal.sign_up(portal.meter, "amina")
    form = client.get(f"/portal/buy/?meter={portal.meter.number}").content.decode()
    assert re.search(r'name="request_id" value="[0-9a-f]{24}"', form)
    page = client.post("/portal/buy/", _buy(portal, client))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="breakdown"' in text and 'id="pay"' in text and "kWh" in text
    assert not StkPush.objects.exists()


def test_a_paid_push_shows_the_token_the_meter_accepts_and_sends_it_twice(
    portal: Portal,
) -> None:
    client = portal.sign_up(portal.meter, "amina", channel="email")
    answer = client.post("/portal/buy/pay/", _buy(portal, client))
    assert answer.status_code == 302
    purchase = PortalPurchase.objects.get()
    waiting = client.get(answer["Location"]).content.decode()
    assert 'http-equiv="refresh"' in waiting
    portal.paybill.deliver_held()
    done = client.get(answer["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in done
    sale = Sale.objects.get(meter=portal.meter)
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    for token in digits:
        assert " ".join(token[i : i + 4] for i in range(0, 20, 4)) in done
    assert portal.paybill.tokens_accepted(portal.meter, digits)
    assert OutboxMessage.objects.filter(key__contains=sale.reference, kind="sms").count() == 1
    email = OutboxMessage.objects.get(key=f"email:portal-token:{sale.reference}")
    assert email.payload["to"] == ["amina@example.org"]
    client.get(answer["Location"])  # seen again: the e-mail is not sent twice
    assert OutboxMessage.objects.filter(key__contains="portal-token").count() == 1
    purchase.refresh_from_db()
    assert purchase.emailed_at is not None
    # The home page lists it among the meter's purchases.
    assert sale.meter.number in client.get("/portal/").content.decode()


def test_a_double_submit_prompts_the_phone_once_and_sells_once(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    first = client.post("/portal/buy/pay/", _buy(portal, client))
    second = client.post("/portal/buy/pay/", _buy(portal, client))
    assert first["Location"] == second["Location"]
    assert StkPush.objects.count() == 1 and PortalPurchase.objects.count() == 1
    portal.paybill.deliver_held()
    assert Sale.objects.filter(meter=portal.meter).count() == 1


def test_the_same_request_id_for_another_amount_is_refused(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    client.post("/portal/buy/pay/", _buy(portal, client))
    refused = client.post("/portal/buy/pay/", _buy(portal, client, amount="500"))
    assert refused.status_code == 400
    assert StkPush.objects.count() == 1


def test_a_cancelled_prompt_says_nothing_was_paid(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    portal.paybill.daraja.answer_next("254712345126", "1032")
    answer = client.post("/portal/buy/pay/", _buy(portal, client))
    portal.paybill.deliver_held()
    page = client.get(answer["Location"]).content.decode()
    assert "Nothing was paid" in page and 'http-equiv="refresh"' not in page
    assert not Sale.objects.filter(meter=portal.meter).exists()


@pytest.mark.parametrize("amount", ["0", "-5", "1e9", "abc", "9" * 30, "12.345.6"])
def test_a_bad_amount_is_refused_beside_the_field(portal: Portal, amount: str) -> None:
    client = portal.sign_up(portal.meter, "amina")
    for url in ("/portal/buy/", "/portal/buy/pay/"):
        answer = client.post(url, _buy(portal, client, amount=amount))
        assert answer.status_code == 400
    assert not StkPush.objects.exists()


def test_the_token_is_emailed_by_the_job_when_the_page_is_not_seen(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina", channel="email")
    client.post("/portal/buy/pay/", _buy(portal, client))
    assert email_portal_tokens() == 0  # not sold yet
    portal.paybill.deliver_held()
    assert email_portal_tokens() == 1
    assert email_portal_tokens() == 0
    sale = Sale.objects.get(meter=portal.meter)
    assert OutboxMessage.objects.filter(key=f"email:portal-token:{sale.reference}").count() == 1


def test_the_token_sms_is_written_in_the_logins_language(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina", channel="email")
    CustomerLogin.objects.filter(username="amina").update(language="ar")
    answer = client.post("/portal/buy/pay/", _buy(portal, client))
    assert answer.status_code == 302
    portal.paybill.deliver_held()
    sale = Sale.objects.get(meter=portal.meter)
    sms = OutboxMessage.objects.get(key__contains=sale.reference, kind="sms")
    assert sms.payload["language"] == "ar"
