"""Phones in the back office: the customer screen and the import store every local way of
writing a number in E.164, refuse what is not a number with a sentence that shows how to write
one, and show stored numbers the way people read them."""

from __future__ import annotations

import pytest

from gridvend.customers.models import Customer
from gridvend.web.backoffice import imports
from tests.backoffice.conftest import World, snapshot
from tests.backoffice.test_imports import CUSTOMER_HEADER, _csv, _customer, _xlsx
from tests.backoffice.test_posts import _customer_data
from tests.signin import signed_in as client_for

pytestmark = pytest.mark.django_db

# The ways a Kenyan clerk or a spreadsheet writes +254745275900.
WRITTEN_WAYS = ["0745 275 900", "+254745275900", "254745275900", "(074) 527-5900"]


@pytest.mark.parametrize("written", WRITTEN_WAYS)
def test_the_customer_screen_stores_the_phone_in_e164(world: World, written: str) -> None:
    response = client_for(world.care).post(
        "/customers/new/", _customer_data(world, name="Zawadi Phone", phone=written)
    )
    assert response.status_code == 302
    assert Customer.objects.get(name="Zawadi Phone").phone == "+254745275900"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("0700", "This phone number is too short."),
        ("0745 275 900 123 456", "This phone number is too long."),
        ("call the shop", "This is not a phone number."),
        ("0745 275 900 ext. 4", "This is not a phone number."),
    ],
)
def test_the_customer_screen_refuses_what_is_not_a_phone_number(
    world: World, written: str, problem: str
) -> None:
    before = snapshot()
    response = client_for(world.care).post("/customers/new/", _customer_data(world, phone=written))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["phone"])
    # The sentence shows a number of the utility's country written the local way.
    assert problem in errors and "0712 123456" in errors and "country code" in errors
    assert snapshot() == before


def test_editing_a_customer_shows_and_keeps_the_stored_number(world: World) -> None:
    customer = world.north.customer
    client = client_for(world.care)
    data = {**_customer_data(world), "phone": "0745 275 900"}
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "+254745275900"
    form = client.get(f"/customers/{customer.pk}/edit/").content.decode()
    assert 'value="0745 275900"' in form and 'inputmode="tel"' in form


def test_stored_numbers_are_shown_the_way_people_read_them(world: World) -> None:
    customer = world.north.customer
    data = {**_customer_data(world), "phone": "+44 20 7946 0958"}
    client = client_for(world.care)
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "+442079460958"
    detail = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "+44 20 7946 0958" in detail
    data["phone"] = "0745275900"
    client.post(f"/customers/{customer.pk}/edit/", data)
    listing = client.get("/customers/", {"q": customer.account_number}).content.decode()
    assert "0745 275900" in listing and "+254745275900" not in listing


def test_imported_local_phones_are_stored_in_e164(world: World) -> None:
    rows = [
        _customer(world, account_number=f"PH-{i}", phone=written)
        for i, written in enumerate(WRITTEN_WAYS)
    ]
    loaded = imports.load("customers", "c.csv", _csv(CUSTOMER_HEADER, rows))
    report = imports.run_import(actor=world.care, kind="customers", rows=loaded, commit=True)
    assert report.committed, report.errors
    stored = Customer.objects.filter(account_number__startswith="PH-").values_list(
        "phone", flat=True
    )
    assert set(stored) == {"+254745275900"} and len(stored) == len(WRITTEN_WAYS)


def test_imported_phones_that_a_spreadsheet_made_numbers_are_stored_in_e164(
    world: World,
) -> None:
    # Excel drops the leading 0 of 0745275900 and keeps 254745275901 as a number.
    rows = [
        _customer(world, account_number="XL-1", phone=745275900),  # type: ignore[arg-type]
        _customer(world, account_number="XL-2", phone=254745275901),  # type: ignore[arg-type]
    ]
    loaded = imports.load("customers", "c.xlsx", _xlsx(CUSTOMER_HEADER, rows))
    report = imports.run_import(actor=world.care, kind="customers", rows=loaded, commit=True)
    assert report.committed, report.errors
    assert Customer.objects.get(account_number="XL-1").phone == "+254745275900"
    assert Customer.objects.get(account_number="XL-2").phone == "+254745275901"


@pytest.mark.parametrize(
    ("written", "problem"),
    [("0700", "too short"), ("Amina", "not a phone number"), ("07452759001234", "too long")],
)
def test_an_imported_phone_that_is_not_a_number_is_refused_beside_its_column(
    world: World, written: str, problem: str
) -> None:
    loaded = imports.load(
        "customers", "c.csv", _csv(CUSTOMER_HEADER, [_customer(world, phone=written)])
    )
    before = snapshot()
    report = imports.run_import(actor=world.care, kind="customers", rows=loaded, commit=True)
    assert not report.committed and snapshot() == before
    assert [(e.row, e.column) for e in report.errors] == [(2, "phone")]
    assert problem in report.errors[0].message and "0712 123456" in report.errors[0].message


SEARCHES = [*WRITTEN_WAYS, "0745275900", "+254 745 275 900", "275900", "745 275 900"]


@pytest.mark.parametrize("typed", SEARCHES)
def test_the_customer_list_finds_a_phone_however_it_is_typed(world: World, typed: str) -> None:
    customer = world.north.customer
    client = client_for(world.care)
    assert (
        client.post(
            f"/customers/{customer.pk}/edit/", {**_customer_data(world), "phone": "+254745275900"}
        ).status_code
        == 302
    )
    page = client.get("/customers/", {"q": typed})
    assert [c.pk for c in page.context["page"]] == [customer.pk]


def test_a_phone_search_finds_only_that_number(world: World) -> None:
    client = client_for(world.care)
    for name, phone in [("Near One", "0745 275 900"), ("Near Two", "0745 275 901")]:
        client.post("/customers/new/", _customer_data(world, name=name, phone=phone))
    page = client.get("/customers/", {"q": "0745 275 900"})
    assert [c.name for c in page.context["page"]] == ["Near One"]
    # Fewer than six digits is not a phone search (it would match half the customers).
    assert not list(client.get("/customers/", {"q": "75900"}).context["page"])


def test_the_example_in_a_refusal_reads_left_to_right_in_arabic(world: World) -> None:
    client = client_for(world.care)
    client.cookies["django_language"] = "ar"
    response = client.post(
        "/customers/new/", _customer_data(world, phone="0700"), HTTP_ACCEPT_LANGUAGE="ar"
    )
    errors = " ".join(response.context["form"].errors["phone"])
    assert "\u20660712 123456\u2069" in errors
