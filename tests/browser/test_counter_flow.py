"""The counter in a real browser, as its users found it: Back after a sale, a session that ends
mid-sale, Enter as soon as the breakdown shows, cash received and change, the screen lock,
closing a shift with nothing and with nonsense counted, and where a cashier lands on sign-in.
Screenshots of every step, in English and Arabic, are kept under test-output/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.models import Session

from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.services import set_language
from gridvend.meters.models import Meter
from gridvend.vending.models import Sale, Shift, ShiftStatus
from gridvend.vending.shifts import open_shift
from tests import factories
from tests.browser.conftest import Shots, print_in_frame
from tests.browser.signin import sign_in
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)

LANGUAGES = ["en", "ar"]


@pytest.fixture
def world(live_server: object) -> World:
    return build_world()


def _till(world: World, language: str, name: str = "till") -> User:
    """A cashier of the world's unit (the world's pay office is their own point)."""
    user = factories.user(world.unit, capabilities=(Capability.CASHIER,), username=name)
    if language != "en":
        set_language(actor=user, language=language)
    return user


def _open_shift(page: Any, shots: Shots, world: World, opening_float: str = "500") -> None:
    page.wait_for_selector("#open-shift")
    # The cashier's own pay office is preselected; nobody else's point is.
    assert page.input_value("#id_vending_point") == str(world.point.pk)
    page.fill("#id_opening_float", opening_float)
    shots("open-shift")
    page.click("#open-shift button[type=submit]")
    page.wait_for_selector("#search-form")


def _quote(page: Any, meter: Meter, amount: str = "750", method: str = "cash") -> None:
    page.fill("#id_q", meter.number)
    page.press("#id_q", "Enter")
    page.wait_for_selector("#amount-form")
    page.fill("#id_amount", amount)
    if method != "cash":
        page.select_option("#id_payment_method", method)
    page.press("#id_amount", "Enter")
    page.wait_for_selector("#breakdown")


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement ? document.activeElement.id : ''"))


def _styled(page: Any) -> bool:
    """The page has its header and Bootstrap's styles (not a bare htmx fragment)."""
    if page.query_selector("nav.navbar") is None:
        return False
    colour = page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).backgroundColor")
    return colour not in ("", "rgba(0, 0, 0, 0)", "transparent")


@pytest.mark.parametrize("language", LANGUAGES)
def test_back_after_a_sale_shows_a_fresh_whole_page(
    page: Any, shots: Shots, live_server: Any, world: World, language: str
) -> None:
    meter = world.add_meter(name="Achieng Odhiambo")
    till = _till(world, language)
    sign_in(page, live_server.url, till.username)
    _open_shift(page, shots, world)
    _quote(page, meter)
    # Cash: type what the customer handed over and see the change at once.
    assert _focused(page) == "id_cash_received"
    page.keyboard.type("1000")
    assert "250.00" in page.inner_text("#change-due")
    shots("change-due")
    page.fill("#id_cash_received", "700")
    assert "50.00" in page.inner_text("#change-due")
    assert "text-danger" in (page.get_attribute("#change-due", "class") or "")
    shots("not-enough")
    page.fill("#id_cash_received", "1,000")
    sold_reference = page.input_value("input[name=client_reference]")
    page.press("#id_cash_received", "Enter")
    page.wait_for_selector("#tokens")
    assert "250.00" in page.inner_text("#change")
    shots("sold-with-change")
    sale = Sale.objects.get(meter=meter)
    assert (sale.tender_minor, sale.cash_received_minor) == (75000, 100000)

    receipt = print_in_frame(page, "#print-receipt", shots, "receipt")
    assert "250.00" in receipt and "1,000.00" in receipt

    page.go_back()
    page.wait_for_selector("#confirmation")
    page.wait_for_load_state("load")
    shots("after-back")
    # A whole, styled page, fetched afresh: the sale just made is in the last purchases, and
    # there is no sell button left over from before: selling again needs a new breakdown.
    assert _styled(page)
    assert page.get_attribute("html", "lang") == language
    purchases = page.inner_text("#confirmation")
    assert "750.00" in purchases
    assert page.query_selector("#sell-button") is None
    assert page.query_selector("#amount-form") is not None
    page.fill("#id_amount", "300")
    page.press("#id_amount", "Enter")
    page.wait_for_selector("#breakdown")
    assert page.input_value("input[name=client_reference]") != sold_reference
    shots("new-quote")
    assert Sale.objects.filter(meter=meter).count() == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_session_that_ends_mid_sale_makes_no_sale_and_says_so(
    page: Any, shots: Shots, live_server: Any, world: World, language: str
) -> None:
    meter = world.add_meter(name="Kiptoo Chebet")
    till = _till(world, language)
    sign_in(page, live_server.url, till.username)
    _open_shift(page, shots, world)
    _quote(page, meter)
    shots("breakdown")
    Session.objects.all().delete()  # the session ended on the server while the customer paid
    page.click("#sell-button")
    page.wait_for_selector("#login-form")
    shots("signed-out-notice")
    # The whole page went to sign-in (not the sign-in page inside the cashier's panel).
    assert page.query_selector("#panel") is None and _styled(page)
    assert page.url.startswith(f"{live_server.url}/login/")
    notice = page.inner_text("main")
    if language == "en":
        assert "Your session ended; the sale was not made." in notice
    else:
        # Still in the cashier's language, with no session to say which.
        assert page.get_attribute("html", "dir") == "rtl"
        assert page.query_selector(".alert-warning") is not None
    assert not Sale.objects.exists()
    # Signing in again returns to the customer, who can be sold to afresh.
    page.fill("#id_username", till.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#amount-form")
    assert "Kiptoo Chebet" in page.inner_text("#confirmation")
    shots("back-at-the-customer")
    assert not Sale.objects.exists()


def test_enter_as_soon_as_the_breakdown_shows_sells(
    page: Any, shots: Shots, live_server: Any, world: World
) -> None:
    meter = world.add_meter()
    till = _till(world, "en")
    sign_in(page, live_server.url, till.username)
    _open_shift(page, shots, world)
    _quote(page, meter)
    # No waiting: the key goes to the sell form, not the page body.
    page.keyboard.press("Enter")
    page.wait_for_selector("#tokens")
    shots("sold")
    assert Sale.objects.filter(meter=meter).count() == 1


def test_enter_before_htmx_settles_stays_in_the_page_and_back_needs_no_resubmission(
    page: Any, shots: Shots, live_server: Any, world: World
) -> None:
    # htmx binds swapped-in forms when the swap settles; with the settle stretched to seconds, a
    # native form post would happen if the screen waited for it. It must not: every step stays
    # in this one document (the marker survives), and Back from the sale needs no re-post.
    meter = world.add_meter(name="Wanjiru Kamau")
    till = _till(world, "en")
    sign_in(page, live_server.url, till.username)
    _open_shift(page, shots, world)
    page.evaluate("() => { htmx.config.defaultSettleDelay = 3000; window.gvMarker = 'same'; }")
    page.fill("#id_q", meter.number)
    page.press("#id_q", "Enter")
    page.wait_for_selector("#amount-form")
    page.fill("#id_amount", "750")
    page.press("#id_amount", "Enter")
    page.wait_for_selector("#breakdown")
    assert page.evaluate("() => window.gvMarker") == "same"
    page.fill("#id_cash_received", "1000")
    page.press("#id_cash_received", "Enter")
    page.wait_for_selector("#tokens")
    assert Sale.objects.filter(meter=meter).count() == 1
    page.go_back()
    page.wait_for_selector("#confirmation")
    assert "750.00" in page.inner_text("#confirmation")
    shots("back-without-resubmission")


def test_a_card_payment_takes_its_reference_and_enter_sells(
    page: Any, shots: Shots, live_server: Any, world: World
) -> None:
    meter = world.add_meter()
    till = _till(world, "en")
    sign_in(page, live_server.url, till.username)
    _open_shift(page, shots, world)
    _quote(page, meter, method="card")
    assert _focused(page) == "id_payment_reference"
    page.keyboard.press("Enter")  # no reference: the browser and the server both refuse
    page.wait_for_timeout(300)
    assert not Sale.objects.exists()
    page.keyboard.type("AUTH 482913")
    shots("card-reference")
    page.keyboard.press("Enter")
    page.wait_for_selector("#tokens")
    assert "AUTH 482913" in page.inner_text("#payment-reference")
    shots("sold")
    assert Sale.objects.get(meter=meter).payment_reference == "AUTH 482913"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_screen_locks_and_only_the_password_opens_it(
    page: Any, shots: Shots, live_server: Any, world: World, language: str, settings: Any
) -> None:
    settings.SCREEN_LOCK_MINUTES = 0.05  # three seconds, for the test
    meter = world.add_meter()
    till = _till(world, language)
    sign_in(page, live_server.url, till.username)
    _open_shift(page, shots, world)
    _quote(page, meter)
    # Nobody touches the keyboard: the browser covers the till by itself.
    page.wait_for_url(f"{live_server.url}/cashier/unlock/?*", timeout=15000)
    page.wait_for_selector("#unlock-form")
    shots("locked")
    assert meter.number not in page.inner_text("main")
    settings.SCREEN_LOCK_MINUTES = 5
    page.goto(f"{live_server.url}/cashier/meters/{meter.number}/")
    assert page.url.startswith(f"{live_server.url}/cashier/unlock/")
    page.fill("#id_password", "not-my-password")
    page.click("#unlock-form button[type=submit]")
    page.wait_for_selector("#unlock-form .text-danger")
    shots("wrong-password")
    page.fill("#id_password", factories.PASSWORD)
    page.click("#unlock-form button[type=submit]")
    page.wait_for_selector("#search-form")
    shots("unlocked")
    assert Shift.objects.get(operator=till).status == ShiftStatus.OPEN
    # And the button locks it at once.
    page.click("#lock-button")
    page.wait_for_selector("#unlock-form")
    assert not Sale.objects.exists()


def test_work_in_another_tab_keeps_the_till_unlocked_and_unlock_returns_to_the_page(
    page: Any, shots: Shots, live_server: Any, world: World, settings: Any
) -> None:
    """A manager with the till open in one tab types in a back-office form in another: the idle
    till tab must not lock the session under them, and a lock, once it comes, returns each tab
    to its own page when unlocked."""
    settings.SCREEN_LOCK_MINUTES = 0.05  # three seconds, for the test
    manager = world.supervisor
    customer = world.customer(world.add_meter())
    open_shift(
        actor=manager,
        vending_point=world.point,
        opening_float=world.money("100"),
    )
    base = live_server.url
    sign_in(page, base, manager.username)
    till_page = f"{base}/cashier/search/?q=Nobody"
    page.goto(till_page)  # tab A: just visiting the till
    page.wait_for_selector("#search-form")
    other = page.context.new_page()  # tab B, same browser and session
    debt_page = f"{base}/customers/{customer.pk}/debts/new/"
    other.goto(debt_page)
    other.click("#id_reason")
    typed = ""
    note = "the meter seal was broken when we visited on Monday morning"
    for word in note.split():
        # Typing steadily for well over the lock's three seconds.
        other.keyboard.type(word + " ", delay=60)
        typed += word + " "
        other.wait_for_timeout(300)
    assert page.url == till_page, "the idle till tab locked the session while tab B was in use"
    assert other.url == debt_page
    assert other.input_value("#id_reason") == typed
    shots("typed-in-another-tab")
    # Nobody touches either tab now: the till tab locks, and says where it was.
    page.wait_for_url(f"{base}/cashier/unlock/?*", timeout=15000)
    page.wait_for_selector("#unlock-form")
    shots("locked")
    other.close()
    page.fill("#id_password", factories.PASSWORD)
    page.click("#unlock-form button[type=submit]")
    page.wait_for_url(till_page)
    page.wait_for_selector("#search-form")
    settings.SCREEN_LOCK_MINUTES = 5
    # A page asked for while locked is the one the unlock returns to.
    page.click("#lock-button")
    page.wait_for_selector("#unlock-form")
    page.goto(debt_page)
    page.fill("#id_password", factories.PASSWORD)
    page.click("#unlock-form button[type=submit]")
    page.wait_for_url(debt_page)
    shots("back-on-the-page")


@pytest.mark.parametrize("language", LANGUAGES)
def test_closing_a_shift_with_nothing_and_with_nonsense_counted(
    page: Any, shots: Shots, live_server: Any, world: World, language: str
) -> None:
    till = _till(world, language)
    sign_in(page, live_server.url, till.username)
    _open_shift(page, shots, world, opening_float="0")
    page.click("#shift-link")
    page.wait_for_selector("#close-shift")
    for bad in ("abc", "-5", "1e700000", "99999999999999999999"):
        page.fill("#id_counted_cash", bad)
        page.click("#close-shift button[type=submit]")
        page.wait_for_selector("#close-shift .text-danger")
        assert Shift.objects.get(operator=till).status == ShiftStatus.OPEN, bad
    shots("bad-count")
    page.fill("#id_counted_cash", "0.00")
    page.click("#close-shift button[type=submit]")
    page.wait_for_selector("#z-report")
    shots("closed-with-nothing")
    shift = Shift.objects.get(operator=till)
    assert shift.status == ShiftStatus.CLOSED and shift.over_short_minor == 0


def test_a_cashier_lands_on_the_till_after_sign_in(
    page: Any, shots: Shots, live_server: Any, world: World
) -> None:
    sign_in(page, live_server.url, world.cashier.username)
    page.wait_for_selector("#search-form")
    assert page.url == f"{live_server.url}/cashier/"
    shots("till")
