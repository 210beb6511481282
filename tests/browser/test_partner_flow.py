"""A partner's float in a real browser: finance asks for a top-up, a second person approves it
from the partner's page, and the page shows the float (kept as screenshots)."""

from __future__ import annotations

import pytest

from gridvend.approvals.models import RequestStatus
from gridvend.identity.roles import Capability, Role
from gridvend.partners import selectors
from gridvend.partners import services as partners
from gridvend.partners.models import FloatTopUpRequest
from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.signin import sign_in
from tests.partners.support import call, make_partner
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server: object) -> World:
    return build_world()


def test_finance_tops_up_a_partner_and_a_second_person_approves(
    page, shots, live_server, world
) -> None:
    partner = make_partner(world, code="equity-bank", float_major="2000", credit_major="500")
    partners.update_partner(
        actor=world.admin,
        partner=partner,
        low_float=world.money("1000"),
        contact_email="float@equity.example",
    )
    meter = world.add_meter()
    partners.purchase(call(partner), "till-0001", meter.number, tender=world.money("1200"))
    maker = factories.user(
        world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,), username="maker"
    )
    checker = factories.user(
        world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,), username="checker"
    )
    base = live_server.url
    sign_in(page, base, maker.username)
    page.goto(f"{base}/partners/{partner.pk}/")
    shots("partner-detail")
    screenshot(page, shots.folder / "partner-detail-before.png")
    page.click(f"a[href='/partners/{partner.pk}/top-ups/new/']")
    page.wait_for_selector("#id_amount")
    page.fill("#id_amount", "5000")
    page.fill("#id_reference", "RTGS-77")
    page.click("form.col-lg-6 button[type=submit]")
    page.wait_for_load_state()
    shots("requested")
    request = FloatTopUpRequest.objects.get(reference="RTGS-77")
    assert request.status == RequestStatus.PENDING
    page.context.clear_cookies()

    sign_in(page, base, checker.username)
    page.goto(f"{base}/partners/{partner.pk}/")
    page.click("button[name=decision][value=approve]")
    page.wait_for_load_state()
    shots("approved")
    screenshot(page, shots.folder / "partner-detail.png")
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.decided_by_id == checker.pk
    assert selectors.float_available(partner) == world.money("6300")
    assert "6,300.00" in page.inner_text("body")
