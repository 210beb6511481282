"""Paying a postpaid bill from the wallet in a real browser at phone size (360 × 740): the bills
page with the form (its amount what is due), the receipt (the bill paid, the wallet after); the
bill is paid and the wallet ties to the ledger. With GRIDVEND_PORTAL_SHOTS_TO_DOCS=1 the
pictures replace docs/images/portal-bill-pay*.png."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.wallet.selectors import balance
from tests.browser.conftest import DOCS, TO_DOCS, Shots
from tests.portal.conftest import PASSWORD, Portal, paybill, portal  # noqa: F401 (fixtures)
from tests.portal.test_bill_pay import _fund, _signed_up

pytestmark = pytest.mark.django_db(transaction=True)


def test_pay_the_bill_from_the_wallet_on_a_phone(
    phone_page: Any,
    live_server: Any,
    portal: Portal,  # noqa: F811
    settings: Any,
    request: pytest.FixtureRequest,
) -> None:
    page = phone_page
    shots = Shots(page, f"test_portal_bill_pay_flow-{request.node.name}")
    _client, bill = _signed_up(portal, settings)
    wallet = _fund("zawadi", bill, "5000")
    base = live_server.url
    page.goto(f"{base}/portal/login/")
    page.fill("#id_username", "zawadi")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("#meters")
    page.goto(f"{base}/portal/bills/")
    form = page.locator("form.pay-bill")
    form.scroll_into_view_if_needed()
    due = form.locator("input[name=amount]").input_value()
    assert due and float(due) * 100 == bill.owed_minor
    form_shot = shots("bills")
    before = balance(wallet)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("section.receipt")
    done_shot = shots("paid")
    text = page.inner_text("section.receipt")
    assert bill.number in text
    bill.refresh_from_db()
    assert bill.owed_minor == 0
    after = balance(wallet)
    assert before.minor - after.minor == round(float(due) * 100)
    assert after.format() in text
    assert ledger_selectors.reconcile_balances() == []
    assert run_checks() == []
    if TO_DOCS:
        shutil.copyfile(form_shot, DOCS / "portal-bill-pay.png")
        shutil.copyfile(done_shot, DOCS / "portal-bill-pay-done.png")
