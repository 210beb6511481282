"""Back-office screens beyond the access matrix (tests/matrix.py): unknown export formats, lists
scoped to the region, and navigation that follows the user's rights."""

from __future__ import annotations

import pytest

from tests.backoffice.conftest import World
from tests.signin import signed_in as client_for

pytestmark = pytest.mark.django_db


def test_unknown_export_format_answers_404(world: World) -> None:
    assert client_for(world.care).get("/customers/export.pdf").status_code == 404


def test_lists_show_only_the_own_region(world: World) -> None:
    client = client_for(world.care)
    body = client.get("/customers/").content.decode()
    assert world.north.customer.account_number in body
    assert world.south.customer.account_number not in body
    meters = client.get("/meters/").content.decode()
    assert world.north.meter.number in meters and world.south.meter.number not in meters
    premises = client.get("/premises/").content.decode()
    assert world.north.premise.address in premises
    assert world.south.premise.address not in premises


def test_navigation_follows_the_users_rights(world: World) -> None:
    cashier_nav = client_for(world.cashier).get("/").content.decode()
    assert "/customers/" not in cashier_nav and "/tariffs/" not in cashier_nav
    care_nav = client_for(world.care).get("/").content.decode()
    assert "/customers/" in care_nav and "/imports/" in care_nav and "/tariffs/" not in care_nav
    maker_nav = client_for(world.maker).get("/").content.decode()
    assert "/tariffs/" in maker_nav and "/debts/" in maker_nav and "/imports/" not in maker_nav
