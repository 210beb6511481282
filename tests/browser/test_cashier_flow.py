"""A cashier's day in a real browser: sign in, open a shift, sell, print, report, close."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from gridvend.identity.roles import Capability
from gridvend.vending.models import Sale, Shift, ShiftStatus
from tests import factories
from tests.browser.conftest import Shots, print_in_frame, printed
from tests.browser.signin import sign_in
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server: object) -> World:
    return build_world()


def _cashier_day(page, shots: Shots, base: str, world: World, *, language: str) -> Sale:
    meter = world.add_meter(name="Achieng Odhiambo")
    till = factories.user(
        world.unit, capabilities=(Capability.CASHIER,), username=f"till-{language}"
    )
    if language != "en":
        from gridvend.identity.services import set_language

        set_language(actor=till, language=language)
    sign_in(page, base, till.username)
    shots("signed-in")
    page.click("#nav-cashier")
    page.select_option("#id_vending_point", str(world.point.pk))
    page.fill("#id_opening_float", "500")
    shots("open-shift")
    page.click("#open-shift button[type=submit]")
    page.wait_for_selector("#search-form")
    # A barcode scanner types the digits and presses Enter.
    page.fill("#id_q", meter.number)
    page.press("#id_q", "Enter")
    page.wait_for_selector("#amount-form")
    assert "Achieng Odhiambo" in page.inner_text("#confirmation")
    shots("customer-confirmed")
    page.fill("#id_amount", "750")
    page.press("#id_amount", "Enter")
    page.wait_for_selector("#breakdown")
    shots("breakdown")
    page.dblclick("#sell-button")  # an impatient double click sells once
    page.wait_for_selector("#tokens")
    shots("sold")
    sale = Sale.objects.get(meter=meter)
    assert Sale.objects.filter(meter=meter).count() == 1
    shown = [el.get_attribute("data-token") for el in page.query_selector_all("[data-token]")]
    assert shown == [t.digits for t in sale.tokens.order_by("sequence")]
    sim = world.simulator(meter)
    for digits in shown:
        assert sim.enter(digits).accepted
    assert sim.credit() >= sale.kwh

    # Printing stays on the sale screen: the receipt prints from a hidden frame.
    text = print_in_frame(page, "#print-receipt", shots, "receipt")
    assert sale.reference in text and "REPRINT" not in text
    compact = re.sub(r"\s+", "", text)
    assert all(d in compact for d in shown)
    assert printed(page) == [f"/receipts/{sale.reference}/thermal/"]
    assert page.inner_text("#print-receipt") != ""  # now offers the reprint
    again = print_in_frame(page, "#print-receipt")
    assert "REPRINT" in again or language != "en"
    shots("after-printing")

    page.goto(f"{base}/cashier/shift/")
    assert sale.reference in page.inner_text("#shift-sales")
    shots("shift-report")
    page.fill("#id_counted_cash", "1250")
    page.click("#close-shift button[type=submit]")
    page.wait_for_selector("#z-report")
    shots("closed")
    shift = Shift.objects.get(operator=till)
    assert shift.status == ShiftStatus.CLOSED and shift.over_short_minor == 0
    assert sale.tender_minor == 75000 and sale.kwh > Decimal(0)
    return sale


def test_cashier_sells_prints_and_closes_the_shift(page, shots, live_server, world) -> None:
    _cashier_day(page, shots, live_server.url, world, language="en")


def test_the_same_day_in_arabic(page, shots, live_server, world) -> None:
    _cashier_day(page, shots, live_server.url, world, language="ar")
    page.goto(f"{live_server.url}/cashier/")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "ar"
    shots("arabic-page")


def test_operator_of_another_business_unit_cannot_see_the_meter(
    page, shots, live_server, world
) -> None:
    meter = world.add_meter()
    south = factories.user(
        world.tree.south_sc, capabilities=(Capability.CASHIER,), username="south-till"
    )
    from gridvend.org import services as org
    from gridvend.vending.shifts import open_shift

    point = org.create_vending_point(
        actor=world.admin, org_unit=world.tree.south_sc, name="South Office", channel="pay_office"
    )
    open_shift(actor=south, vending_point=point, opening_float=world.money("0.00"))
    sign_in(page, live_server.url, south.username)
    page.goto(f"{live_server.url}/cashier/")
    page.fill("#id_q", meter.number)
    page.press("#id_q", "Enter")
    page.wait_for_selector("#refusal")
    assert meter.number in page.inner_text("#refusal")
    assert page.query_selector("#amount-form") is None
    shots("meter-not-found")
    response = page.goto(f"{live_server.url}/cashier/meters/{meter.number}/")
    assert response is not None and response.status == 404
    assert Sale.objects.count() == 0
