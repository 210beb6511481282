"""A reversal in a real browser: the cashier asks for it, a supervisor approves it."""

from __future__ import annotations

import pytest

from gridvend.ledger.models import JournalEntry
from gridvend.vending import services as vending
from gridvend.vending.models import ReversalRequest, Sale, SaleStatus
from tests.browser.signin import sign_in
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server: object) -> World:
    return build_world()


def test_supervisor_approves_a_reversal(page, shots, live_server, world) -> None:
    meter = world.add_meter()
    sale = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="browser-reversal",
        meter_number=meter.number,
        tender=world.money("600.00"),
    ).sale
    base = live_server.url
    sign_in(page, base, world.cashier.username)
    page.goto(f"{base}/supervisor/reversals/request/?sale={sale.reference}")
    page.fill("#id_reason", "customer paid for the wrong meter")
    shots("cashier-requests")
    page.click("#panel button[type=submit]")
    page.wait_for_selector("#panel .alert-success")
    shots("requested")
    request = ReversalRequest.objects.get(sale=sale)
    page.context.clear_cookies()

    sign_in(page, base, world.supervisor.username)
    page.goto(f"{base}/supervisor/")
    row = f"#reversal-{request.pk}"
    page.wait_for_selector(row)
    assert sale.reference in page.inner_text(row)
    shots("pending")
    page.click(f"{row} .btn-success")
    page.wait_for_load_state()
    shots("approved")
    sale.refresh_from_db()
    request.refresh_from_db()
    assert sale.status == SaleStatus.REVERSED
    assert request.status == "approved" and request.decided_by_id == world.supervisor.pk
    assert JournalEntry.objects.filter(reverses=sale.journal_entry).exists()
    assert page.query_selector(row) is None
    assert Sale.objects.count() == 1
