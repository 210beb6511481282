"""The customer portal in a real browser at phone size (360 × 740), in English and Arabic: sign up
with the one-time code read from the outbox, buy a token paid by the sandbox's STK push, and see
the token (the page reloads itself, no script) that the meter simulator then accepts. Every
portal page is pictured on the way; with GRIDVEND_PORTAL_SHOTS_TO_DOCS=1 the pictures replace
docs/images/portal-*.png."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gridvend.vending.models import Sale
from tests.browser.conftest import DOCS, TO_DOCS, Shots
from tests.portal.conftest import PASSWORD, Portal, paybill, portal  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_sign_up_and_buy_a_token_on_a_phone(
    phone_page: Any,
    live_server: Any,
    portal: Portal,  # noqa: F811
    language: str,
    request: pytest.FixtureRequest,
) -> None:
    page = phone_page
    shots = Shots(page, f"test_portal_flow-{request.node.name}")
    pictured: dict[str, Path] = {}

    def shot(name: str) -> None:
        pictured[name] = shots(name)

    base = live_server.url
    customer = portal.customer(portal.meter)
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
    page.fill("#id_username", f"amina-{language}")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_password_again", PASSWORD)
    shot("sign-up-code")
    page.click("main button[type=submit]")
    page.wait_for_selector("#meters")
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    shot("home")

    page.click(f'#meters a[href$="meter={portal.meter.number}"]')
    page.fill("#id_amount", "300")
    shot("buy")
    page.click("main button[type=submit]")
    page.wait_for_selector("#breakdown")
    shot("breakdown")
    page.click("#pay")
    page.wait_for_selector("#state")
    assert page.query_selector(".token") is None
    shot("waiting")
    portal.paybill.deliver_held()
    # The page asks again by itself (meta refresh) until the token is there.
    page.wait_for_selector(".token")
    shot("token")
    shown = ["".join(t.split()) for t in page.locator(".token").all_inner_texts()]
    sale = Sale.objects.get(meter=portal.meter)
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    assert shown == digits
    assert portal.paybill.tokens_accepted(portal.meter, digits)

    page.goto(f"{base}/portal/")
    page.wait_for_selector("#purchases")
    shot("home-with-purchase")
    page.goto(f"{base}/portal/meters/add/")
    shot("add-meter")
    page.fill("#id_meter_number", portal.other.number)
    page.fill("#id_account_number", portal.customer(portal.other).account_number)
    page.click("main button[type=submit]")
    page.wait_for_selector("#id_code")
    shot("add-meter-code")
    page.goto(f"{base}/portal/security/")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("#totp-key")
    shot("security")
    page.click("nav button[type=submit]")  # sign out
    page.wait_for_selector("#id_username")
    page.goto(f"{base}/portal/reset/")
    shot("reset")
    page.fill("#id_username", f"amina-{language}")
    page.click("main button[type=submit]")
    page.wait_for_selector("#id_code")
    shot("reset-code")

    if not TO_DOCS:
        return
    if language == "en":
        for name, path in pictured.items():
            shutil.copyfile(path, DOCS / f"portal-{name}.png")
    else:
        for name in ("home", "breakdown", "token"):
            shutil.copyfile(pictured[name], DOCS / f"portal-{name}-ar.png")
