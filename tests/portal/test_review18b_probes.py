"""Review of issue 18 (second pass): probes for defects in the portal's wallet, token-status,
rejected-token help and fault pages. Each test FAILS on the code as reviewed because of the
defect its name says; it passes once the defect is fixed. Production code is not changed here."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.logins import purchases
from gridvend.logins.purchases import TokenStatus
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.wallet.models import CardPayment
from tests.portal.conftest import Portal
from tests.receipts.helpers import sell

pytestmark = pytest.mark.django_db


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


# --- wallet top-up: an amount the form accepts crashes the page -----------------------------------


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


# --- token status: "confirmed" that lies ------------------------------------------------------------


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


# --- rejected-token help: advice that is wrong for the key state -----------------------------------


def test_review18b_rejected_help_does_not_claim_the_key_matches_when_it_is_unknown(
    portal: Portal,
) -> None:
    """RejectedHelp.key_matches is True when the purchase's key was not recorded (an imported
    or older sale: key_sgc blank), so the page tells the customer "The token was made for the
    key your meter has in our records" while its own table shows "—" for that key."""
    world = portal.paybill.world
    amina = portal.sign_up(portal.meter, "amina")
    old = sell(world, portal.meter, "200.00")
    Sale.objects.filter(pk=old.pk).update(key_sgc="", key_ti=None, key_krn=None)
    page = amina.get(f"/portal/tokens/{old.reference}/rejected/").content.decode()
    assert "The token was made for the key your meter has in our records." not in page
