"""One customer's whole journey through the portal in a real browser at phone size (360 × 740),
in English and in Arabic (issue 18): sign up with the one-time code read from the outbox, top up
the wallet through the sandbox card provider's page, buy a token paid from the wallet that the
meter simulator accepts, find it again under My tokens and download the receipt's copy (a PDF,
rendered to a picture and read), open "my token was rejected" and follow its link to report a
fault, and see the report under My faults. The books tie at the end. No page is wider than the
phone. With GRIDVEND_PORTAL_SHOTS_TO_DOCS=1 the pictures replace docs/images/portal-*.png."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.logins.models import PortalFault
from gridvend.vending.integrity.books import verify_journal_entries
from gridvend.vending.models import Sale
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance
from tests.browser.conftest import DOCS, PHONE, TO_DOCS, Shots
from tests.portal.conftest import PASSWORD, Portal, paybill, portal  # noqa: F401 (fixtures)
from tests.receipts import pdftools

pytestmark = pytest.mark.django_db(transaction=True)

# The README's picture for each step of the journey (the wallet's pages keep their own prefix).
DOC_NAMES = {
    "login": "portal-login",
    "sign-up": "portal-sign-up",
    "sign-up-code": "portal-sign-up-code",
    "home": "portal-home",
    "wallet-empty": "portal-wallet-wallet-empty",
    "top-up": "portal-wallet-top-up",
    "card": "portal-wallet-card",
    "buy": "portal-wallet-buy",
    "breakdown": "portal-wallet-breakdown",
    "token": "portal-wallet-token",
    "wallet": "portal-wallet-wallet",
    "tokens": "portal-tokens",
    "token-again": "portal-token-again",
    "receipt-copy": "portal-receipt-copy",
    "rejected": "portal-rejected",
    "fault-new": "portal-fault-new",
    "fault": "portal-fault",
    "faults": "portal-faults",
}


def assert_fits_the_phone(page: Any, step: str) -> None:
    """Nothing on the page reaches past the phone's width (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{step}: the page is {width} px wide"


@pdftools.needs_poppler
@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_customers_journey_on_a_phone(
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
    shots = Shots(page, f"test_portal_journey-{request.node.name}")
    pictured: dict[str, Path] = {}
    rtl = "rtl" if language == "ar" else "ltr"

    def shot(name: str) -> None:
        assert_fits_the_phone(page, name)
        assert page.get_attribute("html", "dir") == rtl, name
        pictured[name] = shots(name)

    world = portal.paybill.world
    base = live_server.url
    customer = portal.customer(portal.meter)
    username = f"amina-{language}"

    # Sign up: the meter, its account number, and the code the phone received.
    page.goto(f"{base}/portal/login/")
    if language != "en":
        page.select_option("#portal-language", language)
        page.click("footer button[type=submit]")
        page.wait_for_selector("html[dir=rtl]")
    shot("login")
    page.click('a[href="/portal/sign-up/"]')
    page.fill("#id_meter_number", portal.meter.number)
    page.fill("#id_account_number", customer.account_number)
    page.check("input[name=channel][value=sms]")
    shot("sign-up")
    page.click("main button[type=submit]")
    page.wait_for_selector("#id_code")
    page.fill("#id_code", portal.last_code(customer.phone))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_password_again", PASSWORD)
    shot("sign-up-code")
    page.click("main button[type=submit]")
    page.wait_for_selector("#meters")
    shot("home")

    # Top up the wallet by card: the sandbox provider's page, its signed callback, and back.
    page.click('nav a[href="/portal/wallet/"]')
    page.wait_for_selector("#wallet-reference")
    shot("wallet-empty")
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
    assert balance(wallet) == world.money("500")
    assert "500" in page.inner_text("#balance")

    # Buy from the wallet: the breakdown, pay, the token on the page; the meter accepts it.
    page.goto(f"{base}/portal/")
    page.click(f'#meters a[href$="meter={portal.meter.number}"]')
    page.wait_for_selector("#id_amount")
    page.fill("#id_amount", "300")
    page.check("input[name=method][value=wallet]")
    shot("buy")
    page.click("main button[type=submit]")
    page.wait_for_selector("#breakdown")
    shot("breakdown")
    page.click("#pay")
    page.wait_for_selector(".token")
    shot("token")
    sale = Sale.objects.get(meter=portal.meter)
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    shown = ["".join(t.split()) for t in page.locator(".token").all_inner_texts()]
    assert shown == digits
    assert portal.paybill.tokens_accepted(portal.meter, digits)
    assert balance(wallet) == world.money("200")
    page.click('nav a[href="/portal/wallet/"]')
    page.wait_for_selector("#movements")
    shot("wallet")

    # My tokens: the purchase listed, the token again, and the receipt's copy as a PDF.
    page.click('nav a[href="/portal/tokens/"]')
    page.wait_for_selector("#token-list")
    assert sale.reference in page.locator("#token-list").inner_text()
    shot("tokens")
    page.click(f'#token-list a[href="/portal/tokens/{sale.reference}/"]')
    page.wait_for_selector("#tokens")
    again = ["".join(t.split()) for t in page.locator("#tokens .token").all_inner_texts()]
    assert again == digits
    shot("token-again")
    # Chromium shows a PDF in its viewer rather than downloading it: fetched with the page's
    # own session cookie from the button's address, as the viewer would.
    href = page.get_attribute("#reprint", "href")
    assert href == f"/portal/tokens/{sale.reference}/receipt.pdf"
    answer = page.context.request.get(f"{base}{href}")
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    pdf = answer.body()
    assert pdf.startswith(b"%PDF")
    text = pdftools.text(pdf)
    assert "COPY" in text or "نسخة" in text
    assert sale.reference in text
    assert "".join(text.split()).count(digits[-1]) >= 1
    pages = pdftools.png(pdf, shots.folder / "receipt-copy", dpi=60)
    assert pages and pages[0].stat().st_size > 0
    pictured["receipt-copy"] = pages[0]

    # "My token was rejected": the meter's key, and the link to report a fault about it.
    page.click("#rejected")
    page.wait_for_selector("#keys")
    shot("rejected")
    page.click("#report-fault")
    page.wait_for_selector("#id_description")
    assert sale.reference in page.inner_text("#about-purchase")
    # Prefilled from the purchase: this meter, "token rejected".
    assert page.is_checked("input[name=kind][value=token_rejected]")
    page.fill("#id_description", "The meter shows an error when I enter the token.")
    shot("fault-new")
    page.click("#send-fault")
    page.wait_for_selector("#fault-status")
    report = PortalFault.objects.get(login__username=username)
    assert page.url.endswith(f"/portal/faults/{report.fault_id}/")
    assert report.fault.meter_id == portal.meter.pk and report.sale_id == sale.pk
    shot("fault")
    page.click('nav a[href="/portal/faults/"]')
    page.wait_for_selector("#faults")
    assert f"/portal/faults/{report.fault_id}/" in page.inner_html("#faults")
    shot("faults")

    # The wallet, the sale and the books tie to the cent.
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
    assert run_checks() == []
    assert verify_journal_entries().problems == []

    if not TO_DOCS:
        return
    suffix = "" if language == "en" else "-ar"
    for name, path in pictured.items():
        shutil.copyfile(path, DOCS / f"{DOC_NAMES[name]}{suffix}.png")
