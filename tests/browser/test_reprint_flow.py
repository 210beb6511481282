"""Reprint by meter number in a real browser, in English and Arabic: the till's Reprint button,
the meter's recent sales, and the receipt printed again from a hidden frame (no new tab)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.identity.roles import Capability
from gridvend.vending import shifts
from tests import factories
from tests.browser.conftest import Shots, print_in_frame, printed
from tests.browser.signin import sign_in
from tests.receipts.helpers import sell
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server: object) -> World:
    return build_world()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_lost_receipt_is_reprinted_from_the_meter_number(
    page, shots: Shots, live_server, world: World, language: str
) -> None:
    till = factories.user(
        world.unit, capabilities=(Capability.CASHIER,), username=f"reprint-{language}"
    )
    if language != "en":
        from gridvend.identity.services import set_language

        set_language(actor=till, language=language)
    shifts.open_shift(actor=till, vending_point=world.point, opening_float=world.money("0"))
    meter = world.add_meter(name="Achieng Odhiambo")
    older = sell(world, meter, "400.00", actor=till)
    world.clock.advance(timedelta(hours=2))
    latest = sell(world, meter, "750.00", actor=till)

    base = live_server.url
    sign_in(page, base, till.username)
    page.goto(f"{base}/cashier/")
    page.click("#reprint-link")
    page.wait_for_selector("#reprint-form")
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    page.fill("#id_meter", f"{meter.number[:4]} {meter.number[4:]}")
    page.press("#id_meter", "Enter")
    page.wait_for_selector("#meter-sales")
    rows = [
        r.get_attribute("data-reference")
        for r in page.query_selector_all("#meter-sales tr[data-reference]")
    ]
    assert rows == [latest.reference, older.reference]
    shots("meter-sales")

    text = print_in_frame(
        page, f'tr[data-reference="{older.reference}"] [data-print-frame]', shots, "reprinted"
    )
    assert older.reference in text
    assert printed(page) == [f"/receipts/{older.reference}/thermal/?reprint=1"]
    compact = "".join(text.split())
    for token in older.tokens.all():
        assert token.digits in compact
    if language == "en":
        assert "REPRINT" in text
    assert page.url.startswith(f"{base}/cashier/reprint/")  # still on the same screen
    shots("after-reprint")

    page.fill("#id_meter", "1234")
    page.press("#id_meter", "Enter")
    page.wait_for_selector("#reprint-form [role=alert]")
    shots("bad-number")
