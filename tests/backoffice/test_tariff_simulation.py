"""'What would a customer pay?': a version beside the one in force, for one customer, no writes."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from gridvend.customers.models import Customer
from gridvend.tariffs import services as tariff_services
from gridvend.tariffs.models import TariffVersion, VersionStatus
from tests.backoffice.conftest import World, snapshot
from tests.masterdata import factories as md
from tests.signin import signed_in as client_for
from tests.tariffs.factories import residential_spec

pytestmark = pytest.mark.django_db


def _url(version: TariffVersion, **query: str) -> str:
    return f"/tariff-versions/{version.pk}/simulate/?" + urlencode(query)


def _customer_on_tariff(world: World) -> Customer:
    return md.customer(org_unit=world.tree.north_sc, tariff=world.north.tariff)


def test_the_draft_and_the_version_in_force_side_by_side(world: World) -> None:
    customer = _customer_on_tariff(world)
    draft = tariff_services.create_tariff_draft(
        actor=world.maker,
        tariff=world.north.tariff,
        spec=residential_spec(energy={"type": "flat", "rate": "10.00"}),
    )
    before = snapshot()
    response = client_for(world.checker).get(
        _url(draft, who=customer.account_number, tender="500", kwh="")
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert snapshot() == before
    assert "Version 3" in body and "Version 1, in force now" in body
    assert "Difference" in body
    # 500.00: 150.00 service charge + 24.00 VAT on it; 326.00 left ÷ 1.16 = 281.03 of energy.
    assert "KES 281.03" in body
    assert "28.2 kWh" in body  # 281.03 at 10.00 per kWh, rounded up
    assert "23.5 kWh" in body  # 281.03 at 12.00 per kWh under version 1
    assert "+4.7 kWh" in body
    assert "not on this tariff" not in body


def test_a_meter_number_finds_its_customer_and_kwh_can_be_asked_for(world: World) -> None:
    response = client_for(world.maker).get(
        _url(world.north.draft, who=world.north.meter.number, tender="", kwh="20")
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert world.north.customer.account_number in body
    assert "Energy on the token" in body and "20.0 kWh" in body
    assert "not on this tariff" in body  # the customer is on the utility-wide tariff


def test_the_drafts_refusal_shows_in_its_column_only(world: World) -> None:
    draft = tariff_services.create_tariff_draft(
        actor=world.maker, tariff=world.north.tariff, spec=residential_spec(min_sale_minor=50000)
    )
    response = client_for(world.maker).get(
        _url(draft, who=world.north.customer.account_number, tender="300", kwh="")
    )
    body = response.content.decode()
    assert "The amount is too small. The smallest sale is KES 500.00." in body
    assert body.count("Would be sold") == 1


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"who": "nobody", "tender": "100", "kwh": ""}, "No customer or installed meter"),
        ({"who": "SOUTH", "tender": "100", "kwh": ""}, "No customer or installed meter"),
        ({"who": "ACC", "tender": "100", "kwh": "5"}, "Give either an amount of money or"),
        ({"who": "ACC", "tender": "", "kwh": ""}, "Give either an amount of money or"),
        ({"who": "ACC", "tender": "10.001", "kwh": ""}, "at most 2 decimal places"),
        ({"who": "ACC", "tender": "1e700000", "kwh": ""}, "Enter a number."),
        ({"who": "ACC", "tender": "0", "kwh": ""}, "Enter an amount above zero."),
    ],
)
def test_refused_questions_are_explained(world: World, query: dict[str, str], shown: str) -> None:
    names = {
        "ACC": world.north.customer.account_number,
        "SOUTH": world.south.customer.account_number,
    }
    query = {k: names.get(v, v) for k, v in query.items()}
    response = client_for(world.maker).get(_url(world.north.draft, **query))
    assert response.status_code == 200
    body = response.content.decode()
    assert shown in body
    assert 'id="simulation"' not in body


def test_who_may_simulate(world: World) -> None:
    url = _url(world.north.draft, who=world.north.customer.account_number, tender="100")
    assert client_for(world.care).get(url).status_code == 403
    assert client_for(world.auditor).get(url).status_code == 200
    south = _url(world.south.draft, who=world.south.customer.account_number, tender="100")
    assert client_for(world.maker).get(south).status_code == 404


def test_the_version_page_links_to_the_simulation(world: World) -> None:
    body = client_for(world.checker).get(f"/tariff-versions/{world.north.draft.pk}/").content
    assert f"/tariff-versions/{world.north.draft.pk}/simulate/".encode() in body
    assert world.north.draft.status == VersionStatus.DRAFT
