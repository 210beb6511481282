"""The counter as its users found it (HTTP): panels and whole pages, sessions that end or lock
mid-sale, blocked meters, cash received and change, payment references, kWh rounded to the
smallest coin, the user's own vending point, and where a cashier lands after sign-in."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability
from gridvend.meters import services as meters
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.vending.models import Sale, Shift, ShiftStatus
from gridvend.web import sessions
from gridvend.web.receipts.render import build_receipt, build_shift_report
from tests import factories
from tests.cashier.conftest import client_reference as _reference
from tests.signin import signed_in as _client
from tests.world import World

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _htmx(page: str = "/cashier/") -> dict[str, str]:
    return {**HTMX, "HX-Current-URL": f"http://testserver{page}"}


def _quote(client: Client, meter: Meter, **fields: str) -> str:
    data = {"mode": "money", "amount": "750", "payment_method": "cash", **fields}
    response = client.post(f"/cashier/meters/{meter.number}/quote/", data, headers=HTMX)
    assert response.status_code == 200, response.content.decode()
    return response.content.decode()


def _sell_form(quote: str, **fields: str) -> dict[str, str]:
    names = ("mode", "amount", "payment_method", "client_reference")
    found = {
        name: re.search(rf'name="{name}" value="([^"]*)"', quote).group(1)  # type: ignore[union-attr]
        for name in names
    }
    return {**found, **fields}


def _set_session(client: Client, **values: Any) -> None:
    session = client.session
    for key, value in values.items():
        session[key] = value
    session.save()


# --- 1. panels for htmx, whole pages for everything else -----------------------------------------


def _panel_urls(world: World) -> list[tuple[str, str, dict[str, str]]]:
    meter = world.add_meter(name="Nafula Wekesa")
    amount = {"mode": "money", "amount": "750", "payment_method": "cash"}
    return [
        ("get", "/cashier/search/", {"q": "Nafula"}),
        ("get", "/cashier/search/", {"q": meter.number}),
        ("get", f"/cashier/meters/{meter.number}/", {}),
        ("post", f"/cashier/meters/{meter.number}/quote/", amount),
        ("post", f"/cashier/meters/{meter.number}/quote/", {**amount, "amount": "ten"}),
        ("post", f"/cashier/meters/{meter.number}/sell/", {**amount, "client_reference": ""}),
    ]


def test_every_url_that_answers_a_panel_answers_a_whole_page_to_a_plain_request(
    world: World,
) -> None:
    client = _client(world.cashier)
    for method, url, data in _panel_urls(world):
        send = client.post if method == "post" else client.get
        panel = send(url, data, headers=HTMX)
        page = send(url, data)
        assert "<html" not in panel.content.decode(), url
        body = page.content.decode()
        assert "<html" in body and 'id="search-form"' in body and 'id="panel"' in body, url
        for response in (panel, page):
            # The same URL answers two ways: no cache may hand one out for the other, and the
            # Back button must fetch a till afresh, not show it as it was before the last sale.
            assert "HX-Request" in response["Vary"], url
            assert "no-store" in response["Cache-Control"], url


def test_htmx_restoring_history_gets_the_whole_page(world: World) -> None:
    meter = world.add_meter()
    body = (
        _client(world.cashier)
        .get(
            "/cashier/search/",
            {"q": meter.number},
            headers={**HTMX, "HX-History-Restore-Request": "true"},
        )
        .content.decode()
    )
    assert "<html" in body and 'id="amount-form"' in body


def test_every_cashier_page_is_never_stored(world: World) -> None:
    client = _client(world.cashier)
    for url in ("/cashier/", "/cashier/shift/"):
        response = client.get(url)
        assert response.status_code == 200 and "no-store" in response["Cache-Control"], url


def test_an_htmx_request_redirected_elsewhere_moves_the_whole_page(world: World) -> None:
    fresh = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    response = _client(fresh).get("/cashier/search/", {"q": "x"}, headers=_htmx())
    # No shift open: the open-shift page replaces the page instead of landing in the panel.
    assert response.status_code == 204 and response["HX-Redirect"] == "/cashier/"


# --- 2. sessions that end, and the screen lock -------------------------------------------------


def test_a_sale_sent_after_the_session_ended_is_not_made_and_says_so(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter)
    Session.objects.all().delete()  # expired, or removed on the server
    page = f"/cashier/search/?q={meter.number}"
    before = (Sale.objects.count(), AuditEvent.objects.count())
    response = client.post(
        f"/cashier/meters/{meter.number}/sell/", _sell_form(quote), headers=_htmx(page)
    )
    assert response.status_code == 204
    target = response["HX-Redirect"]
    # The whole page goes to sign-in, which then returns to the page the cashier was on.
    assert target == "/login/?next=%2Fcashier%2Fsearch%2F%3Fq%3D" + meter.number
    login = client.get(target).content.decode()
    assert "Your session ended; the sale was not made." in login
    assert 'id="login-form"' in login
    assert (Sale.objects.count(), AuditEvent.objects.count()) == before


def test_without_javascript_an_interrupted_sale_says_so_too(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter)
    Session.objects.all().delete()
    response = client.post(
        f"/cashier/meters/{meter.number}/sell/",
        _sell_form(quote),
        headers={"Referer": "http://testserver/cashier/"},
    )
    # Not back to a URL that only takes a POST.
    assert response.status_code == 302 and response["Location"] == "/login/?next=%2Fcashier%2F"
    assert "the sale was not made" in client.get(response["Location"]).content.decode()
    assert Sale.objects.count() == 0


def test_signing_out_is_not_reported_as_an_ended_session(world: World) -> None:
    client = _client(world.cashier)
    client.post("/logout/")
    response = client.get("/cashier/", follow=True)
    assert "Your session ended" not in response.content.decode()


def test_a_session_ends_after_the_idle_time(world: World, settings: Any) -> None:
    settings.SESSION_IDLE_SECONDS = 600
    client = _client(world.cashier)
    now = time.time()
    _set_session(client, **{sessions.SIGNED_IN_AT: now - 700, sessions.LAST_SEEN: now - 599})
    assert client.get("/cashier/").status_code == 200  # 599 s idle: still signed in
    _set_session(client, **{sessions.LAST_SEEN: now - 601})
    response = client.get("/cashier/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "Your session ended." in client.get(response["Location"]).content.decode()
    assert client.get("/cashier/").status_code == 302  # and it stays ended


def test_a_session_ends_at_its_maximum_age_however_busy(world: World, settings: Any) -> None:
    settings.SESSION_MAX_SECONDS = 3600
    client = _client(world.cashier)
    now = time.time()
    _set_session(client, **{sessions.SIGNED_IN_AT: now - 3601, sessions.LAST_SEEN: now - 1})
    response = client.get("/cashier/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_requests_keep_a_session_alive(world: World, settings: Any) -> None:
    settings.SESSION_IDLE_SECONDS = 600
    client = _client(world.cashier)
    now = time.time()
    _set_session(client, **{sessions.SIGNED_IN_AT: now - 900, sessions.LAST_SEEN: now - 500})
    assert client.get("/cashier/alive/").status_code == 204
    assert client.session[sessions.LAST_SEEN] >= now
    assert client.get("/cashier/").status_code == 200


def test_sign_in_starts_the_clock(world: World) -> None:
    client = Client()
    client.post("/login/", {"username": world.cashier.username, "password": factories.PASSWORD})
    assert abs(client.session[sessions.SIGNED_IN_AT] - time.time()) < 60


def _lock(client: Client) -> None:
    response = client.post("/cashier/lock/")
    assert response.status_code == 302 and response["Location"] == "/cashier/unlock/"


def test_a_locked_screen_shows_nothing_and_sells_nothing(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter)
    _lock(client)
    before = (Sale.objects.count(), AuditEvent.objects.count())
    for url in ("/cashier/", f"/cashier/meters/{meter.number}/", "/cashier/shift/", "/org/"):
        response = client.get(url)
        # The unlock returns to the page asked for.
        assert response.status_code == 302, url
        assert response["Location"] == "/cashier/unlock/?" + urlencode({"next": url}), url
    sold = client.post(f"/cashier/meters/{meter.number}/sell/", _sell_form(quote), headers=_htmx())
    assert sold.status_code == 204 and sold["HX-Redirect"] == "/cashier/unlock/?next=%2Fcashier%2F"
    assert (Sale.objects.count(), AuditEvent.objects.count()) == before
    page = client.get("/cashier/unlock/").content.decode()
    assert "The screen is locked; the sale was not made." in page
    assert meter.number not in page and 'id="unlock-form"' in page


def test_every_cashier_view_checks_the_lock_itself(world: World, settings: Any) -> None:
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if not m.endswith("SessionGuardMiddleware")
    ]
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter)
    _set_session(client, **{sessions.LOCKED: True})
    response = client.post(f"/cashier/meters/{meter.number}/sell/", _sell_form(quote))
    assert response.status_code == 302 and response["Location"] == "/cashier/unlock/"
    assert Sale.objects.count() == 0


def test_the_password_unlocks_the_screen_and_the_shift_stays_open(world: World) -> None:
    client = _client(world.cashier)
    _lock(client)
    wrong = client.post("/cashier/unlock/", {"password": "not-the-password"})
    assert wrong.status_code == 200 and "That is not your password." in wrong.content.decode()
    world.cashier.refresh_from_db()
    assert world.cashier.failed_logins == 1
    right = client.post("/cashier/unlock/", {"password": factories.PASSWORD})
    assert right.status_code == 302 and right["Location"] == "/cashier/"
    assert client.get("/cashier/").status_code == 200
    world.cashier.refresh_from_db()
    assert world.cashier.failed_logins == 0
    assert Shift.objects.get(operator=world.cashier).status == ShiftStatus.OPEN
    assert AuditEvent.objects.filter(event_type="user.screen_unlocked").count() == 1


def test_the_unlock_returns_to_the_page_in_view(world: World) -> None:
    client = _client(world.cashier)
    page = "/cashier/search/?q=Otieno"
    locked = client.post("/cashier/lock/", {"next": page})
    assert locked.status_code == 302
    assert locked["Location"] == "/cashier/unlock/?" + urlencode({"next": page})
    right = client.post(locked["Location"], {"password": factories.PASSWORD})
    assert right.status_code == 302 and right["Location"] == page


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/cashier/", "javascript:alert(1)"]
)
def test_the_unlock_never_sends_the_user_to_another_site(world: World, target: str) -> None:
    client = _client(world.cashier)
    locked = client.post("/cashier/lock/", {"next": target})
    assert locked["Location"] == "/cashier/unlock/"
    query = "/cashier/unlock/?" + urlencode({"next": target})
    right = client.post(query, {"password": factories.PASSWORD})
    assert right.status_code == 302 and right["Location"] == "/cashier/"


@pytest.mark.parametrize("target", ["", "x" * 10_240, "a\x00b", "\u202eevil", "²", "/%00"])
def test_the_lock_takes_hostile_pages_to_return_to_plainly(world: World, target: str) -> None:
    client = _client(world.cashier)
    locked = client.post("/cashier/lock/", {"next": target})
    assert locked.status_code == 302 and locked["Location"].startswith("/cashier/unlock/")
    assert client.get(locked["Location"]).status_code == 200
    assert client.get("/cashier/").status_code == 302  # locked all the same


def test_a_background_tab_keeping_the_session_alive_is_not_a_page_to_return_to(
    world: World,
) -> None:
    client = _client(world.cashier)
    _lock(client)
    response = client.get("/cashier/alive/")
    assert response.status_code == 302 and response["Location"] == "/cashier/unlock/"


def test_only_till_pages_run_the_idle_lock(world: World) -> None:
    client = _client(world.supervisor)
    till = client.get("/cashier/").content.decode()
    assert 'id="lock-form"' in till and "data-idle-lock" in till
    office = client.get("/org/").content.decode()
    # The lock button and the shared activity are there; the idle timer is not.
    assert 'id="lock-form"' in office and "data-idle-lock" not in office


def test_too_many_wrong_passwords_at_the_lock_sign_the_user_out(
    world: World, settings: Any
) -> None:
    settings.LOGIN_MAX_FAILURES = 2
    client = _client(world.cashier)
    _lock(client)
    client.post("/cashier/unlock/", {"password": "wrong-1"})
    response = client.post("/cashier/unlock/", {"password": "wrong-2"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/cashier/").status_code == 302


@pytest.mark.parametrize("password", ["", "x" * 2000, "a\x00b", "\u202eevil", "' OR 1=1 --"])
def test_the_unlock_form_refuses_hostile_input_plainly(world: World, password: str) -> None:
    client = _client(world.cashier)
    _lock(client)
    response = client.post("/cashier/unlock/", {"password": password})
    assert response.status_code == 200
    assert client.get("/cashier/").status_code == 302  # still locked


def test_a_till_left_idle_locks_on_the_server(world: World, settings: Any) -> None:
    settings.SCREEN_LOCK_MINUTES = 5
    client = _client(world.cashier)
    assert client.get("/cashier/").status_code == 200  # the session now serves a till
    now = time.time()
    _set_session(client, **{sessions.LAST_SEEN: now - 299})
    assert client.get("/cashier/").status_code == 200
    _set_session(client, **{sessions.LAST_SEEN: now - 301})
    response = client.get("/cashier/")
    assert response.status_code == 302
    assert response["Location"] == "/cashier/unlock/?next=%2Fcashier%2F"


def test_the_idle_lock_spares_sessions_that_never_used_the_till(
    world: World, settings: Any
) -> None:
    settings.SCREEN_LOCK_MINUTES = 5
    client = _client(world.supervisor)
    now = time.time()
    _set_session(client, **{sessions.SIGNED_IN_AT: now - 400, sessions.LAST_SEEN: now - 400})
    assert client.get("/org/").status_code == 200


def test_the_lock_can_be_switched_off(world: World, settings: Any) -> None:
    settings.SCREEN_LOCK_MINUTES = 0
    client = _client(world.cashier)
    client.get("/cashier/")
    now = time.time()
    _set_session(client, **{sessions.LAST_SEEN: now - 1000})
    assert client.get("/cashier/").status_code == 200
    assert 'data-lock-seconds="0"' in client.get("/cashier/").content.decode()


def test_the_till_offers_the_lock_button_with_its_idle_time(world: World) -> None:
    body = _client(world.cashier).get("/cashier/").content.decode()
    assert 'id="lock-form"' in body and 'data-lock-seconds="300"' in body


# --- 3. what the confirmation offers ----------------------------------------------------------


def test_a_blocked_meter_shows_the_reason_and_no_amount_form(world: World) -> None:
    meter = world.add_meter()
    meters.block_meter(actor=world.admin, meter=meter, reason="Tampered seal")
    body = _client(world.cashier).get(f"/cashier/meters/{meter.number}/").content.decode()
    assert 'id="refusal"' in body and "is blocked" in body
    assert 'id="amount-form"' not in body


# --- 5. cash received, change, payment references, the smallest coin ----------------------------


def test_cash_received_gives_the_change_on_screen_and_on_the_receipt(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter)
    assert 'id="id_cash_received"' in quote and 'data-due-minor="75000"' in quote
    response = client.post(
        f"/cashier/meters/{meter.number}/sell/", _sell_form(quote, cash_received="1,000")
    )
    assert response.status_code == 302
    sale = Sale.objects.get(meter=meter)
    assert (sale.tender_minor, sale.cash_received_minor, sale.change_minor) == (
        75000,
        100000,
        25000,
    )
    assert sale.payment_reference is None
    page = client.get(response["Location"]).content.decode()
    assert "KES 250.00" in page and 'id="change"' in page
    receipt = build_receipt(sale)
    assert (str(receipt.cash_received), str(receipt.change)) == ("KES 1,000.00", "KES 250.00")
    thermal = client.get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert "Cash received" in thermal and "KES 250.00" in thermal


def test_cash_received_below_the_amount_due_sells_nothing(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter)
    form = _sell_form(quote, cash_received="700")
    response = client.post(f"/cashier/meters/{meter.number}/sell/", form, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 400
    assert "less than the amount due" in body
    # The same breakdown, with the same reference: correcting the cash and selling sells once.
    assert _reference(body) == form["client_reference"] and 'id="breakdown"' in body
    assert Sale.objects.count() == 0
    ok = client.post(f"/cashier/meters/{meter.number}/sell/", {**form, "cash_received": "800"})
    assert ok.status_code == 302 and Sale.objects.get().change_minor == 5000


def test_an_empty_cash_received_sells_the_exact_amount(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    response = client.post(
        f"/cashier/meters/{meter.number}/sell/", _sell_form(_quote(client, meter))
    )
    assert response.status_code == 302
    assert Sale.objects.get().cash_received_minor is None


@pytest.mark.parametrize("method", ["card", "cheque", "mobile_money", "transfer"])
def test_other_tenders_need_a_payment_reference_and_keep_it(world: World, method: str) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter, payment_method=method)
    assert 'id="id_payment_reference"' in quote and 'id="id_cash_received"' not in quote
    missing = client.post(f"/cashier/meters/{meter.number}/sell/", _sell_form(quote), headers=HTMX)
    assert missing.status_code == 400 and "Type the reference" in missing.content.decode()
    assert Sale.objects.count() == 0
    response = client.post(
        f"/cashier/meters/{meter.number}/sell/",
        _sell_form(quote, payment_reference=" QK7 4HX2 ", cash_received="5000"),
    )
    assert response.status_code == 302
    sale = Sale.objects.get()
    # Cash received means nothing for a card: it is not kept.
    assert (sale.payment_reference, sale.cash_received_minor) == ("QK7 4HX2", None)
    assert "QK7 4HX2" in client.get(response["Location"]).content.decode()
    assert build_receipt(sale).payment_reference == "QK7 4HX2"
    assert "QK7 4HX2" in client.get("/cashier/shift/").content.decode()
    from gridvend.reports.shifts import z_report

    rows = build_shift_report(z_report(world.cashier, sale.shift)).rows  # type: ignore[arg-type]
    assert [row.payment_reference for row in rows] == ["QK7 4HX2"]
    event = AuditEvent.objects.get(event_type="sale.created")
    assert event.after is not None and event.after["payment_reference"] == "QK7 4HX2"


@pytest.mark.parametrize("bad", ["x" * 65, "a\x00b", "\u202eevil\u202c"])
def test_a_hostile_payment_reference_is_refused_plainly(world: World, bad: str) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    quote = _quote(client, meter, payment_method="card")
    response = client.post(
        f"/cashier/meters/{meter.number}/sell/", _sell_form(quote, payment_reference=bad)
    )
    assert response.status_code == 400 and Sale.objects.count() == 0


def test_a_kwh_sale_asks_for_whole_coins_and_the_extra_buys_energy(
    world: World, settings: Any
) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    exact = _quote(client, meter, mode="energy", amount="37.3")
    exact_due = int(re.search(r'data-due-minor="(\d+)"', exact).group(1))  # type: ignore[union-attr]
    assert exact_due % 500 != 0, "choose kWh whose exact price is not whole coins"
    assert 'id="coin-rounding"' not in exact
    settings.SMALLEST_COIN_MINOR = 500  # KES 5 coins
    quote = _quote(client, meter, mode="energy", amount="37.3")
    due = int(re.search(r'data-due-minor="(\d+)"', quote).group(1))  # type: ignore[union-attr]
    assert due % 500 == 0 and exact_due < due < exact_due + 500
    assert 'id="coin-rounding"' in quote
    response = client.post(f"/cashier/meters/{meter.number}/sell/", _sell_form(quote))
    assert response.status_code == 302
    sale = Sale.objects.get()
    assert sale.tender_minor == due and sale.kwh >= Decimal("37.3")


def test_money_amounts_are_not_rounded(world: World, settings: Any) -> None:
    settings.SMALLEST_COIN_MINOR = 500
    meter = world.add_meter()
    quote = _quote(_client(world.cashier), meter, amount="752.30")
    assert 'data-due-minor="75230"' in quote and 'id="coin-rounding"' not in quote


# --- 4. the user's own vending point -----------------------------------------------------------


def _selected(body: str, name: str = "vending_point") -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', body, re.S)
    assert select, body
    # The blank choice may be marked selected; it selects no point.
    return [v for v in re.findall(r'<option value="([^"]*)"[^>]*selected', select.group(0)) if v]


def test_the_open_shift_form_preselects_only_the_users_own_point(world: World) -> None:
    other_unit = factories.unit(world.tree.north, "Market SC")
    org.create_vending_point(
        actor=world.admin, org_unit=other_unit, name="Aaa Market Agent", channel="agent"
    )
    fresh = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    body = _client(fresh).get("/cashier/").content.decode()
    assert _selected(body) == [str(world.point.pk)]


def test_with_no_obvious_own_point_the_cashier_must_choose(world: World) -> None:
    org.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Aaa Market Agent", channel="agent"
    )
    fresh = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    client = _client(fresh)
    body = client.get("/cashier/").content.decode()
    assert _selected(body) == [] and re.search(r'<option value=""[ >]', body)
    response = client.post("/cashier/", {"vending_point": "", "opening_float": "0"})
    assert response.status_code == 200 and not Shift.objects.filter(operator=fresh).exists()


def test_the_point_of_the_last_shift_is_preselected(world: World) -> None:
    agent = org.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Aaa Market Agent", channel="agent"
    )
    from gridvend.vending.shifts import close_shift, open_shift

    fresh = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    shift = open_shift(actor=fresh, vending_point=agent, opening_float=world.money("0"))
    close_shift(actor=fresh, shift=shift, counted={})
    body = _client(fresh).get("/cashier/").content.decode()
    assert _selected(body) == [str(agent.pk)]


# --- 6. where sign-in lands --------------------------------------------------------------------


def test_a_cashier_lands_on_the_till(world: World) -> None:
    client = Client()
    response = client.post(
        "/login/", {"username": world.cashier.username, "password": factories.PASSWORD}
    )
    assert response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == "/cashier/"


def test_users_with_more_than_the_till_keep_their_home(world: World) -> None:
    response = _client(world.supervisor).get("/")
    assert response.status_code == 200 and "Welcome" in response.content.decode()
