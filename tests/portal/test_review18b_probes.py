"""Review of issue 18 (second pass): probes for defects in the portal's wallet, token-status,
rejected-token help and fault pages. Each test FAILS on the code as reviewed because of the
defect its name says; it passes once the defect is fixed. Production code is not changed here."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gridvend.logins import purchases
from gridvend.logins.purchases import TokenStatus
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.wallet.models import CardPayment
from tests.portal.conftest import Portal
from tests.receipts.helpers import sell
from tests.threads import run_threads

pytestmark = pytest.mark.django_db

THREADS = 6


@pytest.fixture
def seller(portal: Portal, settings: Any) -> Portal:
    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    return portal


def _account(portal: Portal) -> str:
    return portal.customer(portal.meter).account_number


def _of(sale: Sale) -> TokenStatus:
    sale.refresh_from_db()
    return purchases.status_of(sale).status


# --- wallet top-up: an amount the form accepts crashes the page ---


def test_review18b_a_top_up_of_three_decimals_is_refused_beside_the_form_not_a_500(
    seller: Portal,
) -> None:
    """wallet_forms._amount accepts MONEY's 3 decimals; wallet_views.top_up then calls
    Money.from_major outside its try block, so INVALID_AMOUNT escapes as a server error."""
    client = seller.sign_up(seller.meter, "amina")
    client.raise_request_exception = False
    answer = client.post(
        f"/portal/wallet/{_account(seller)}/top-up/",
        {"amount": "10.005", "method": "card:sandbox", "phone": "", "request_id": "r18b-dec-0001"},
    )
    assert answer.status_code == 400
    assert CardPayment.objects.count() == 0


def test_review18b_a_three_decimal_stk_top_up_is_refused_beside_the_form_not_a_500(
    seller: Portal,
) -> None:
    client = seller.sign_up(seller.meter, "amina")
    client.raise_request_exception = False
    answer = client.post(
        f"/portal/wallet/{_account(seller)}/top-up/",
        {
            "amount": "1.999",
            "method": "mobile_money",
            "phone": "0712 345 126",
            "request_id": "r18b-dec-0002",
        },
    )
    assert answer.status_code == 400


# --- token status: "confirmed" that lies ---


def test_review18b_a_later_purchase_that_was_reversed_does_not_confirm_the_token(
    portal: Portal,
) -> None:
    """purchases._confirmed takes the newest sale of BOUGHT_KINDS for the meter and customer
    whatever its status: a later purchase that was reversed (refunded, its token void) still
    turns the earlier token "confirmed", though nothing shows it was ever entered."""
    world = portal.paybill.world
    first = sell(world, portal.meter, "500.00")
    assert _of(first) == TokenStatus.ISSUED
    second = sell(world, portal.meter, "300.00")
    vending.reverse_sale(
        actor=world.supervisor, sale=second, reason="sold twice", clock=world.clock
    )
    assert _of(second) == TokenStatus.REVERSED
    assert _of(first) != TokenStatus.CONFIRMED


# --- wallet top-up: the same form again with another amount ---


def test_review18b_the_card_form_again_with_another_amount_is_not_sent_to_the_first_payment(
    seller: Portal,
) -> None:
    """wallet_views.top_up answers a request id it remembers with the first card payment's page,
    whatever the amount now posted: a customer who goes back, corrects 100 to 999 and submits
    (the hidden request id is the same) is sent to pay 100. The STK path and the buy forms refuse
    the same request id with another amount (DUPLICATE_REQUEST); the card path should too, or
    start a payment of the amount asked."""
    client = seller.sign_up(seller.meter, "amina")
    url = f"/portal/wallet/{_account(seller)}/top-up/"
    form = {"method": "card:sandbox", "phone": "", "request_id": "r18b-card-0001"}
    first = client.post(url, {**form, "amount": "100"})
    assert first.status_code == 302
    again = client.post(url, {**form, "amount": "999"})
    started = list(CardPayment.objects.order_by("id").values_list("amount_minor", flat=True))
    sent_to_the_first = again.status_code == 302 and again["Location"] == first["Location"]
    assert not sent_to_the_first, (again.status_code, started)


# --- wallet top-up: a double submit at once (PostgreSQL, real threads) ---


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_review18b_the_card_form_submitted_at_once_starts_one_payment(portal: Portal) -> None:
    """The card path's double-submit guard is the portal session (wallet_views.CARD_STARTED),
    read and written around the provider call with no lock: the same form posted at once (a
    double tap on a slow phone) starts a card payment at the provider per request, contrary to
    docs/portal.md ("a double submit ... sends the customer to the same card payment")."""
    client = portal.sign_up(portal.meter, "amina")
    url = f"/portal/wallet/{_account(portal)}/top-up/"
    form = {"amount": "100", "method": "card:sandbox", "phone": "", "request_id": "r18b-par-0001"}

    def submit(_i: int) -> int:
        tap = Client()
        tap.cookies = client.cookies
        return tap.post(url, form).status_code

    results, errors = run_threads(THREADS, submit)
    assert errors == [] and set(results) == {302}
    assert CardPayment.objects.count() == 1
