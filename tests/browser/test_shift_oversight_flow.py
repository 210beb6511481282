"""A supervisor's shift oversight in a real browser: find an abandoned shift in the list,
force-close it, sign it off, read its Z report (with a reversed sale) and the day's banking slip."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import business_date
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import Sale, Shift, ShiftStatus
from tests import factories
from tests.browser.signin import sign_in
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server: object) -> World:
    return build_world()


def _sell(world: World, seller: User, ref: str, amount: str, method: str = "cash") -> Sale:
    return vending.vend_credit(
        actor=seller,
        vending_point=world.point,
        client_reference=ref,
        meter_number=world.add_meter(name=f"Customer {ref}").number,
        tender=world.money(amount),
        payment_method=method,
    ).sale


def _a_day_at_the_office(world: World) -> Shift:
    """The world's cashier left the shift open months ago (abandoned) after three sales, one
    reversed at the counter; a day cashier sold and closed with a count today, and one of
    those sales was refunded later by the back office."""
    _sell(world, world.cashier, "ab-1", "1200.00")
    _sell(world, world.cashier, "ab-2", "450.00", method="mobile_money")
    wrong = _sell(world, world.cashier, "ab-3", "300.00")
    vending.reverse_sale(actor=world.supervisor, sale=wrong, reason="typed the wrong meter")
    day = factories.user(world.unit, capabilities=(Capability.CASHIER,), username="day-cashier")
    day_shift = shifts.open_shift(
        actor=day, vending_point=world.point, opening_float=world.money("500.00")
    )
    _sell(world, day, "day-1", "2000.00")
    refunded = _sell(world, day, "day-2", "650.00")
    _sell(world, day, "day-3", "800.00", method="card")
    shifts.close_shift(
        actor=day,
        shift=day_shift,
        counted={"cash": world.money("3140.00"), "card": world.money("800.00")},
        note="10.00 short",
    )
    vending.reverse_sale(actor=world.supervisor, sale=refunded, reason="paid twice")
    abandoned = shifts.current_shift(world.cashier)
    assert abandoned is not None
    return abandoned


def test_supervisor_force_closes_and_signs_off_an_abandoned_shift(
    page, shots, live_server, world
) -> None:
    abandoned = _a_day_at_the_office(world)
    base = live_server.url
    sign_in(page, base, world.supervisor.username)
    page.goto(f"{base}/supervisor/")
    page.click("#nav-shifts")
    row = f"#shift-{abandoned.pk}"
    page.wait_for_selector(row)
    assert "Open too long" in page.inner_text(row)
    shots("shift-list")

    page.click(f"{row} a[href='/supervisor/shifts/{abandoned.pk}/']")
    page.wait_for_selector("#force-close-form")
    shots("abandoned-shift")
    page.fill("#force-close-form #id_reason", "Cashier went home ill; drawer locked in the safe")
    page.click("#force-close-form button[type=submit]")
    page.wait_for_selector("#force-closed")
    abandoned.refresh_from_db()
    assert abandoned.status == ShiftStatus.CLOSED and abandoned.is_force_closed
    assert abandoned.closed_by_id == world.supervisor.pk and abandoned.counted == {}
    shots("force-closed")

    # Someone other than the supervisor who force-closed it counts the drawer with a witness
    # and signs it off; the count goes on the banking slip.
    second = factories.user(
        world.tree.north,
        Role.VENDING_POINT_MANAGER,
        (Capability.FINANCE,),
        username="second-supervisor",
    )
    page.context.clear_cookies()
    sign_in(page, base, second.username)
    page.goto(f"{base}/supervisor/shifts/{abandoned.pk}/")
    page.fill("#sign-off-form #id_note", "Drawer counted with the cashier next morning")
    page.fill("#sign-off-form #id_witnessed_cash", "1900.00")
    page.click("#sign-off-form button[type=submit]")
    page.wait_for_selector("#signed-off")
    abandoned.refresh_from_db()
    assert abandoned.signed_off_by_id == second.pk
    assert abandoned.counted == {"cash": 190000}
    assert (
        AuditEvent.objects.filter(
            event_type__in=("shift.force_closed", "shift.signed_off"), target_id=str(abandoned.pk)
        ).count()
        == 2
    )
    shots("signed-off")

    page.click("#z-report-link")
    page.wait_for_selector(".z-report #kind-total")
    text = page.inner_text("main")
    assert "FORCE-CLOSED" in text and "Mobile money" in text and "mobile_money" not in text
    assert "Reversed" in text
    shots("z-report-with-reversed-lines")

    page.go_back()
    page.click("#slip-link")
    page.wait_for_selector("#slip-to-bank")
    # 3,140.00 counted by the day cashier + 1,900.00 at the witnessed count - 650.00 refunded
    assert page.inner_text("#slip-to-bank") == "KES 4,390.00"
    assert business_date(timezone.now(), settings.TIME_ZONE).isoformat() in page.inner_text(
        "#slip-day"
    )
    shots("banking-slip")
