"""The portal's wallet in a real browser at phone size (360 × 740), in English and Arabic: top up
through the sandbox card provider's page and back (a real round trip: the provider's page, its
signed callback, the signed return), buy a token from the wallet in the portal's buy flow, and
see the token that the meter simulator then accepts; the wallet ties to the ledger after it.
Every wallet page is pictured; with GRIDVEND_PORTAL_SHOTS_TO_DOCS=1 the pictures replace
docs/images/portal-wallet-*.png."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.vending.integrity.books import verify_journal_entries
from gridvend.vending.models import Sale
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance
from tests.browser.conftest import DOCS, TO_DOCS, Shots
from tests.portal.conftest import PASSWORD, Portal, paybill, portal  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_top_up_by_card_then_buy_from_the_wallet_on_a_phone(
    phone_page: Any,
    live_server: Any,
    portal: Portal,  # noqa: F811
    settings: Any,
    language: str,
    request: pytest.FixtureRequest,
) -> None:
    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    page = phone_page
    shots = Shots(page, f"test_portal_wallet_flow-{request.node.name}")
    pictured: dict[str, Path] = {}

    def shot(name: str) -> None:
        pictured[name] = shots(name)

    base = live_server.url
    username = f"amina-{language}"
    portal.sign_up(portal.meter, username)
    page.goto(f"{base}/portal/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("#meters")
    if language != "en":
        # Chosen at the foot of a page, the language is kept on the login.
        page.select_option("#portal-language", language)
        page.click("footer button[type=submit]")
        page.wait_for_selector("html[dir=rtl]")

    # The wallet, from the navigation: empty, with the reference to quote for a bank transfer.
    page.click('nav a[href="/portal/wallet/"]')
    page.wait_for_selector("#wallet-reference")
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    shot("wallet-empty")

    # Top up by card: to the sandbox provider's page, pay, and back to the portal.
    page.click('main a[href$="/top-up/"]')
    page.fill("#id_amount", "500")
    page.check('input[name=method][value="card:sandbox"]')
    shot("top-up")
    page.click("#top-up")
    page.wait_for_url("**/wallet-card/sandbox/pay/**")
    page.click("button[value=paid]")
    page.wait_for_selector("#back")
    page.click("#back")
    page.wait_for_selector("#balance")
    shot("card")
    wallet = Wallet.objects.get()
    assert balance(wallet) == portal.paybill.world.money("500")
    assert "500" in page.inner_text("#balance")

    # Buy from the wallet: the breakdown, then pay from the wallet; the token on the page.
    page.goto(f"{base}/portal/buy/?meter={portal.meter.number}")
    page.fill("#id_amount", "300")
    page.check("input[name=method][value=wallet]")
    shot("buy")
    page.click("main button[type=submit]")
    page.wait_for_selector("#breakdown")
    shot("breakdown")
    page.click("#pay")
    page.wait_for_selector(".token")
    shot("token")
    shown = ["".join(t.split()) for t in page.locator(".token").all_inner_texts()]
    sale = Sale.objects.get(meter=portal.meter)
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    assert shown == digits
    assert portal.paybill.tokens_accepted(portal.meter, digits)
    assert balance(wallet) == portal.paybill.world.money("200")

    # The wallet's movements, and the auto-purchase setting.
    page.goto(f"{base}/portal/wallet/")
    page.wait_for_selector("#movements")
    shot("wallet")
    page.click('main a[href$="/auto-purchase/"]')
    page.check("#id_enabled")
    page.fill("#id_threshold", "300")
    page.fill("#id_amount", "200")
    shot("auto-purchase")
    page.click("#save")
    page.wait_for_selector("#movements")
    wallet.refresh_from_db()
    assert wallet.auto_meter_id == portal.meter.pk

    # The wallet ties to the ledger, to the cent.
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
    assert run_checks() == []
    assert verify_journal_entries().problems == []

    if not TO_DOCS:
        return
    suffix = "" if language == "en" else "-ar"
    names = pictured if language == "en" else ("wallet", "breakdown", "token")
    for name in names:
        shutil.copyfile(pictured[name], DOCS / f"portal-wallet-{name}{suffix}.png")
