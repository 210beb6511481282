"""The free-issue and engineering-token forms preselect the user's own vending point, never
whichever point comes first in the list (another agent's); with no obvious own point, none."""

from __future__ import annotations

import re

import pytest

from gridvend.identity.roles import Capability, Role
from tests import factories
from tests.signin import signed_in
from tests.world import World

pytestmark = pytest.mark.django_db

URLS = ["/supervisor/free-issue/", "/supervisor/engineering-tokens/"]


def _selected(body: str) -> list[str]:
    select = re.search(r'<select name="vending_point".*?</select>', body, re.S)
    assert select, body
    # The blank choice may be marked selected; it selects no point.
    return [v for v in re.findall(r'<option value="([^"]*)"[^>]*selected', select.group(0)) if v]


@pytest.mark.parametrize("url", URLS)
def test_with_no_point_in_the_users_own_unit_none_is_preselected(world: World, url: str) -> None:
    body = signed_in(world.supervisor).get(url).content.decode()
    assert _selected(body) == [] and re.search(r'<option value=""[ >]', body)


@pytest.mark.parametrize("url", URLS)
def test_the_only_point_of_the_users_own_unit_is_preselected(world: World, url: str) -> None:
    own = factories.user(
        world.unit, Role.VENDING_POINT_MANAGER, (Capability.FINANCE, Capability.CUSTOMER_CARE)
    )
    body = signed_in(own).get(url).content.decode()
    assert _selected(body) == [str(world.point.pk)]


def test_a_form_sent_without_a_point_issues_nothing(world: World) -> None:
    from gridvend.vending.models import Sale

    meter = world.add_meter()
    response = signed_in(world.supervisor).post(
        "/supervisor/free-issue/",
        {
            "vending_point": "",
            "meter_number": meter.number,
            "kwh": "5",
            "reason": "goodwill",
            "client_reference": "fi-1",
        },
    )
    assert response.status_code == 200 and not Sale.objects.exists()
