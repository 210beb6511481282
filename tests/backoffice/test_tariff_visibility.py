"""Tariffs that apply to a user's customers are readable by them even when defined higher up."""

from __future__ import annotations

import pytest

from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.identity.roles import Role
from gridvend.tariffs import selectors
from gridvend.tariffs import services as tariff_services
from gridvend.tariffs.models import TariffVersion, VersionStatus
from tests.backoffice.conftest import World, snapshot
from tests.signin import signed_in as client_for
from tests.tariffs.factories import finance_user, residential_spec

pytestmark = pytest.mark.django_db


def _bu_finance(world: World) -> User:
    return finance_user(world.tree.north_bu, Role.VENDING_POINT_MANAGER)


def test_business_unit_finance_sees_the_tariff_their_customers_are_on(world: World) -> None:
    root_tariff = world.tariff
    assert world.north.customer.tariff_id == root_tariff.pk
    user = _bu_finance(world)
    body = client_for(user).get("/tariffs/").content.decode()
    assert "Nothing found." not in body
    assert root_tariff.code in body
    assert world.north.tariff.code in body
    assert world.south.tariff.code not in body
    assert "Read only" in body


def test_visible_tariffs_are_subtree_ancestors_and_customers_tariffs(world: World) -> None:
    user = _bu_finance(world)
    codes = set(selectors.list_visible_tariffs(user).values_list("code", flat=True))
    assert codes == {world.tariff.code, world.north.tariff.code}
    assert selectors.manages_tariff(user, world.north.tariff)
    assert not selectors.manages_tariff(user, world.tariff)
    # The managed list (customer forms, imports) is unchanged.
    assert set(selectors.list_tariffs(user).values_list("code", flat=True)) == {
        world.north.tariff.code
    }


def test_a_tariff_read_from_above_shows_only_published_versions(world: World) -> None:
    root_tariff = world.tariff
    root_maker = finance_user(world.tree.root)
    draft = tariff_services.create_tariff_draft(
        actor=root_maker, tariff=root_tariff, spec=residential_spec()
    )
    user = _bu_finance(world)
    client = client_for(user)
    response = client.get(f"/tariffs/{root_tariff.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "You can read its published versions but not change it." in body
    assert "Draft a new version" not in body
    assert f"/tariff-versions/{draft.pk}/" not in body
    assert client.get(f"/tariff-versions/{draft.pk}/").status_code == 404
    with pytest.raises(NotFound):
        selectors.get_version(user, draft.pk)
    published = TariffVersion.objects.get(tariff=root_tariff, status=VersionStatus.PUBLISHED)
    detail = client.get(f"/tariff-versions/{published.pk}/")
    assert detail.status_code == 200
    assert "Withdraw" not in detail.content.decode()


def test_a_tariff_read_from_above_cannot_be_changed(world: World) -> None:
    root_tariff = world.tariff
    published = TariffVersion.objects.get(tariff=root_tariff, status=VersionStatus.PUBLISHED)
    client = client_for(_bu_finance(world))
    before = snapshot()
    assert client.get(f"/tariffs/{root_tariff.pk}/versions/new/").status_code == 403
    assert client.post(f"/tariffs/{root_tariff.pk}/versions/new/", {}).status_code == 403
    response = client.post(f"/tariff-versions/{published.pk}/", {"action": "withdraw"})
    assert response.status_code == 403
    assert snapshot() == before


def test_another_regions_tariff_stays_not_found(world: World) -> None:
    client = client_for(_bu_finance(world))
    assert client.get(f"/tariffs/{world.south.tariff.pk}/").status_code == 404
    published = TariffVersion.objects.filter(tariff=world.south.tariff).first()
    assert published is not None
    assert client.get(f"/tariff-versions/{published.pk}/").status_code == 404
