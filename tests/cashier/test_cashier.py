"""The cashier screen through HTTP: shift, search, confirm, quote, sell once, receipt, close."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability
from gridvend.vending.models import Sale, Shift, ShiftStatus
from tests import factories
from tests.cashier.conftest import client_reference as _reference
from tests.signin import signed_in as _client
from tests.world import World

pytestmark = pytest.mark.django_db


def test_full_sale_at_the_counter(world: World) -> None:
    meter = world.add_meter(name="Wanjiku Kamau")
    client = _client(world.cashier)
    page = client.get("/cashier/")
    assert page.status_code == 200 and 'id="search-form"' in page.content.decode()

    found = client.get("/cashier/search/", {"q": "Wanjiku"}).content.decode()
    assert f"/cashier/meters/{meter.number}/" in found
    confirm = client.get("/cashier/search/", {"q": f" {meter.number[:4]} {meter.number[4:]} "})
    body = confirm.content.decode()
    assert "Wanjiku Kamau" in body and 'id="amount-form"' in body

    quote = client.post(
        f"/cashier/meters/{meter.number}/quote/",
        {"mode": "money", "amount": "1,000.00", "payment_method": "cash"},
    ).content.decode()
    assert 'id="breakdown"' in quote and "KES 1,000.00" in quote
    ref = _reference(quote)
    form = {"mode": "money", "amount": "1000.00", "payment_method": "cash", "client_reference": ref}
    first = client.post(f"/cashier/meters/{meter.number}/sell/", form)
    again = client.post(f"/cashier/meters/{meter.number}/sell/", form)  # a double click
    assert first.status_code == 302 and again["Location"] == first["Location"]
    assert Sale.objects.filter(meter=meter).count() == 1
    sale = Sale.objects.get(meter=meter)
    assert sale.tender_minor == 100000 and sale.payment_method == "cash"

    receipt = client.get(first["Location"]).content.decode()
    sim = world.simulator(meter)
    digits = re.findall(r'data-token="(\d{20})"', receipt)
    assert digits == [t.digits for t in sale.tokens.order_by("sequence")]
    assert all(sim.enter(d).accepted for d in digits)

    shift_page = client.get("/cashier/shift/").content.decode()
    assert sale.reference in shift_page
    closed = client.post(
        "/cashier/shift/", {"counted_cash": "2000.00", "counted_card": "", "note": "end of day"}
    )
    assert closed.status_code == 302
    shift = Shift.objects.get(operator=world.cashier)
    assert shift.status == ShiftStatus.CLOSED
    assert shift.over_short_minor == 0  # float 1000.00 + sale 1000.00 counted exactly
    report = client.get(closed["Location"]).content.decode()
    assert sale.reference in report and 'id="over-short"' in report


def test_refusal_is_shown_in_plain_words_and_nothing_sold(world: World) -> None:
    meter = world.add_meter()
    client = _client(world.cashier)
    page = client.post(
        f"/cashier/meters/{meter.number}/quote/",
        {"mode": "money", "amount": "10.00", "payment_method": "cash"},
    ).content.decode()
    assert "The amount is too small" in page
    bad = client.post(
        f"/cashier/meters/{meter.number}/quote/",
        {"mode": "money", "amount": "ten", "payment_method": "cash"},
    )
    assert bad.status_code == 400 and "Enter a number" in bad.content.decode()
    assert Sale.objects.count() == 0


def test_unknown_meter_is_a_clear_404(world: World) -> None:
    client = _client(world.cashier)
    response = client.get("/cashier/search/", {"q": "04999999990"})
    assert response.status_code == 404
    assert "No meter" in response.content.decode()


def test_cashier_of_another_region_cannot_see_the_meter(world: World) -> None:
    meter = world.add_meter()
    south = factories.user(world.tree.south_sc, capabilities=(Capability.CASHIER,))
    from gridvend.org import services as org
    from gridvend.vending.shifts import open_shift

    point = org.create_vending_point(
        actor=world.admin, org_unit=world.tree.south_sc, name="South Office", channel="pay_office"
    )
    open_shift(actor=south, vending_point=point, opening_float=world.money("0.00"))
    client = _client(south)
    assert client.get(f"/cashier/meters/{meter.number}/").status_code == 404
    before = (Sale.objects.count(), AuditEvent.objects.count())
    response = client.post(
        f"/cashier/meters/{meter.number}/sell/",
        {"mode": "money", "amount": "500", "payment_method": "cash", "client_reference": "x1"},
    )
    assert response.status_code == 404
    assert (Sale.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(
    "url", ["/cashier/", "/cashier/search/?q=1", "/cashier/shift/", "/cashier/meters/04000000000/"]
)
def test_screens_need_sign_in_and_the_cashier_capability(world: World, url: str) -> None:
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    clerk = factories.user(world.unit, capabilities=(Capability.CUSTOMER_CARE,))
    assert _client(clerk).get(url).status_code == 403


def test_selling_without_capability_changes_nothing(world: World) -> None:
    meter = world.add_meter()
    clerk = factories.user(world.unit, capabilities=(Capability.CUSTOMER_CARE,))
    before = (Sale.objects.count(), AuditEvent.objects.count())
    response = _client(clerk).post(
        f"/cashier/meters/{meter.number}/sell/",
        {"mode": "money", "amount": "500", "payment_method": "cash", "client_reference": "x"},
    )
    assert response.status_code == 403
    assert (Sale.objects.count(), AuditEvent.objects.count()) == before


def test_open_shift_screen(world: World) -> None:
    fresh = factories.user(world.unit, capabilities=(Capability.CASHIER,))
    client = _client(fresh)
    page = client.get("/cashier/").content.decode()
    assert 'id="open-shift"' in page and world.point.name in page
    response = client.post("/cashier/", {"vending_point": world.point.pk, "opening_float": "500"})
    assert response.status_code == 302
    shift = Shift.objects.get(operator=fresh)
    assert shift.opening_float_minor == 50000 and shift.vending_point_id == world.point.pk


def test_search_query_count_does_not_grow_with_results(
    world: World, django_assert_max_num_queries: object
) -> None:
    for i in range(3):
        world.add_meter(name=f"Otieno {i}")
    client = _client(world.cashier)
    client.get("/cashier/search/", {"q": "Otieno"})  # warm caches (session, content types)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/cashier/search/", {"q": "Otieno"})
    for i in range(3, 15):
        world.add_meter(name=f"Otieno {i}")
    with CaptureQueriesContext(connection) as many:
        body = client.get("/cashier/search/", {"q": "Otieno"}).content.decode()
    assert body.count('hx-get="/cashier/meters/') == 15
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    "typed",
    ["0745 275 900", "+254745275900", "254745275900", "(074) 527-5900", "0745275900", "275900"],
)
def test_the_counter_finds_a_customer_by_phone_however_it_is_typed(
    world: World, typed: str
) -> None:
    from gridvend.customers.services import update_customer

    meter = world.add_meter(name="Phone Kamau")
    assert meter.customer is not None
    update_customer(actor=world.admin, customer=meter.customer, phone="+254745275900")
    world.add_meter(name="Other Kamau")
    body = _client(world.cashier).get("/cashier/search/", {"q": typed}).content.decode()
    assert "Phone Kamau" in body and "Other Kamau" not in body
    assert f"/cashier/meters/{meter.number}/" in body
    assert "0745 275900" in body  # shown the way people read it


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize(("mode", "amount"), [("energy", "20"), ("money", "500.00")])
def test_a_sale_priced_differently_from_its_breakdown_is_not_made(
    world: World, mode: str, amount: str
) -> None:
    from gridvend.customers import services as customer_services
    from gridvend.kernel.money import Money

    meter = world.add_meter(name="Price Moves")
    client = _client(world.cashier)
    quote = client.post(
        f"/cashier/meters/{meter.number}/quote/",
        {"mode": mode, "amount": amount, "payment_method": "cash"},
    ).content.decode()
    form = {
        name: _hidden(quote, name)
        for name in ("mode", "amount", "payment_method", "client_reference", "quoted_minor",
                     "quoted_kwh")
    }  # fmt: skip
    # Found in review: a debt opened between the breakdown and the sale re-priced the sale, and
    # the cashier took the quoted sum for a dearer one.
    customer_services.open_debt(
        actor=world.admin,
        customer=world.customer(meter),
        amount=Money(500000, "KES"),
        reason="Arrears found",
    )
    response = client.post(f"/cashier/meters/{meter.number}/sell/", form)
    assert "The price changed" in response.content.decode()
    assert not Sale.objects.filter(client_reference=form["client_reference"]).exists()


def test_the_counter_says_when_more_customers_match_than_it_shows(world: World) -> None:
    from gridvend.web.cashier.views import SEARCH_LIMIT

    for _ in range(SEARCH_LIMIT + 1):
        world.add_meter(name="Refine Wambui")
    client = _client(world.cashier)
    body = client.get("/cashier/search/", {"q": "wambui"}).content.decode()
    assert 'id="more-match"' in body and body.count("Refine Wambui") == SEARCH_LIMIT
    world.add_meter(name="Single Wambui")
    one = client.get("/cashier/search/", {"q": "single wambui"}).content.decode()
    assert 'id="more-match"' not in one and one.count("Single Wambui") == 1


def test_the_counter_asks_for_more_letters_of_a_name(world: World) -> None:
    world.add_meter(name="Wa Kamau")
    body = _client(world.cashier).get("/cashier/search/", {"q": "wa"}).content.decode()
    assert 'id="refusal"' in body and "Wa Kamau" not in body
