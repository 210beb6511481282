"""My tokens in a real browser at phone size (360 × 740), in English and Arabic: a counter sale
and a purchase that carries key change tokens show in the list with their status; the token page
shows the tokens again (the meter simulator accepts them), the receipt copy is a PDF marked COPY
(rendered to a picture), and "my token was rejected" explains the meter's key. With
GRIDVEND_PORTAL_SHOTS_TO_DOCS=1 the pictures replace docs/images/portal-*.png."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from gridvend.meters import keychanges
from tests.browser.conftest import DOCS, TO_DOCS, Shots
from tests.portal.conftest import PASSWORD, Portal, paybill, portal  # noqa: F401 (fixtures)
from tests.receipts import pdftools
from tests.receipts.helpers import sell

pytestmark = pytest.mark.django_db(transaction=True)


@pdftools.needs_poppler
@pytest.mark.parametrize("language", ["en", "ar"])
def test_my_tokens_reprint_and_rejected_help_on_a_phone(
    phone_page: Any,
    live_server: Any,
    portal: Portal,  # noqa: F811
    language: str,
    request: pytest.FixtureRequest,
) -> None:
    page = phone_page
    shots = Shots(page, f"test_portal_tokens-{request.node.name}")
    pictured: dict[str, Path] = {}

    def shot(name: str) -> None:
        pictured[name] = shots(name)

    world = portal.paybill.world
    base = live_server.url
    customer = portal.customer(portal.meter)
    # Sold now: the usage page shows the twelve months up to today.
    world.clock.set(timezone.now())
    first = sell(world, portal.meter, "500.00")
    keychanges.request_key_change(actor=world.admin, meter=portal.meter, krn=3, reason="KRN up")
    second = sell(world, portal.meter, "300.00")

    page.goto(f"{base}/portal/sign-up/")
    if language != "en":
        page.select_option("#portal-language", language)
        page.click("footer button[type=submit]")
        page.wait_for_selector("html[dir=rtl]")
    page.fill("#id_meter_number", portal.meter.number)
    page.fill("#id_account_number", customer.account_number)
    page.check("input[name=channel][value=sms]")
    page.click("main button[type=submit]")
    page.wait_for_selector("#id_code")
    page.fill("#id_code", portal.last_code(customer.phone))
    page.fill("#id_username", f"amina-{language}")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_password_again", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("#meters")

    page.click('nav a[href="/portal/tokens/"]')
    page.wait_for_selector("#token-list")
    listed = page.locator("#token-list").inner_text()
    assert first.reference in listed and second.reference in listed
    shot("tokens")

    page.click(f'#token-list a[href="/portal/tokens/{second.reference}/"]')
    page.wait_for_selector("#tokens")
    shot("token-again")
    shown = ["".join(t.split()) for t in page.locator("#tokens .token").all_inner_texts()]
    digits = list(second.tokens.order_by("sequence").values_list("digits", flat=True))
    assert shown == digits
    # The key change tokens first, then the credit: the meter takes them all in that order.
    assert portal.paybill.tokens_accepted(portal.meter, digits)

    answer = page.context.request.get(f"{base}/portal/tokens/{second.reference}/receipt.pdf")
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    body = answer.body()
    assert "COPY" in pdftools.text(body) or "نسخة" in pdftools.text(body)
    pages = pdftools.png(body, shots.folder / "receipt-copy", dpi=60)
    pictured["receipt-copy"] = pages[0]

    page.click("#rejected")
    page.wait_for_selector("#keys")
    assert page.query_selector("#key-change-tokens") is not None
    assert "600675 / 01 / 3" in page.locator("#keys").inner_text()
    href = page.get_attribute("#report-fault", "href")
    assert href == f"/portal/faults/new/?meter={portal.meter.pk}&purchase={second.pk}"
    shot("rejected")

    # The purchase made before the key change: its key no longer matches the meter's.
    page.goto(f"{base}/portal/tokens/{first.reference}/rejected/")
    page.wait_for_selector("#key-state.error")
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    shot("rejected-old-key")

    page.click('nav a[href="/portal/usage/"]')
    page.wait_for_selector("#usage-table")
    assert page.locator("#money-chart").evaluate("img => img.naturalWidth") > 0
    shot("usage")

    if not TO_DOCS:
        return
    suffix = "" if language == "en" else "-ar"
    for name, path in pictured.items():
        shutil.copyfile(path, DOCS / f"portal-{name}{suffix}.png")
