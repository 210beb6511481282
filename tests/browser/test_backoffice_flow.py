"""The back office in a real browser: a tariff draft edited through the form and a customer's
sale simulated against it; the fault list, a meter action and a customer statement, in English
and Arabic, with screenshots."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gridvend.customers import services as customers
from gridvend.identity.roles import Capability, Role
from gridvend.identity.services import set_language
from gridvend.meters import faults
from gridvend.meters import services as meters
from gridvend.meters.models import FaultReport
from gridvend.tariffs.models import TariffVersion, VersionStatus
from gridvend.vending import services as vending
from tests import factories
from tests.browser.conftest import Shots
from tests.browser.signin import sign_in
from tests.world import World, build_world, meter_number

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server: object) -> World:
    return build_world()


def _sign_in(page, base: str, username: str) -> None:
    # Each step of this flow is a different person on the same browser.
    page.context.clear_cookies()
    sign_in(page, base, username)


def test_maker_edits_a_tariff_draft_in_the_form_and_simulates_a_customer(
    page, shots: Shots, live_server, world: World
) -> None:
    base = live_server.url
    meter = world.add_meter(name="Wanjiku Kamau")
    customer = world.customer(meter)
    maker = factories.user(
        world.tree.root, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,), username="maker"
    )
    _sign_in(page, base, maker.username)
    page.goto(f"{base}/tariffs/{world.tariff.pk}/")
    page.click("text=Draft a new version")
    page.wait_for_selector("#tariff-editor")
    # A cheaper first block, a second tax added through "Add a tax", and a note.
    page.fill("#id_blocks-0-rate", "10.50")
    page.click("button[name=add][value=taxes]")
    page.wait_for_selector("#id_taxes-2-code")
    page.fill("#id_taxes-1-code", "REL")
    page.fill("#id_taxes-1-rate", "1.5")
    page.check("#id_taxes-1-on_energy")
    page.fill("#id_notes", "Lifeline block cheaper from July")
    shots("tariff-editor-en")
    # A mistake first: the second block's limit below the first's.
    page.fill("#id_blocks-1-up_to_kwh", "40")
    page.click("#save-draft")
    page.wait_for_selector("#tariff-problems")
    problems = page.inner_text("#tariff-problems")
    assert "Energy block 2" in problems and "energy.blocks[1]" in problems
    shots("tariff-editor-refusal-en")
    page.fill("#id_blocks-1-up_to_kwh", "150")
    page.click("#save-draft")
    page.wait_for_selector("#simulate")
    draft = TariffVersion.objects.filter(tariff=world.tariff).latest("number")
    assert draft.status == VersionStatus.DRAFT
    assert draft.spec["energy"]["blocks"][0]["rate"] == "10.50"
    assert [t["code"] for t in draft.spec["taxes"]] == ["VAT", "REL"]

    page.click("#simulate")
    page.fill("#id_who", customer.account_number)
    page.fill("#id_tender", "500")
    page.click("#simulate-form button[type=submit]")
    page.wait_for_selector("#simulation")
    table = page.inner_text("#simulation")
    assert "Version 2" in table and "Version 1, in force now" in table
    assert "Tax: REL" in table
    assert TariffVersion.objects.filter(tariff=world.tariff).count() == 2
    shots("simulation-en")

    set_language(actor=maker, language="ar")
    page.goto(f"{base}/tariff-versions/{draft.pk}/edit/")
    page.wait_for_selector("#tariff-editor")
    assert page.get_attribute("html", "dir") == "rtl"
    shots("tariff-editor-ar")
    page.goto(
        f"{base}/tariff-versions/{draft.pk}/simulate/?who={customer.account_number}&tender=500&kwh="
    )
    page.wait_for_selector("#simulation")
    shots("simulation-ar")


def _faults(world: World) -> None:
    agent = factories.user(
        world.unit, Role.OPERATOR, (Capability.FIELD_AGENT,), username="agent-otieno"
    )
    rows = [
        ("no_supply", "No supply since the storm", 30, True),
        ("token_rejected", "Token rejected twice (error 1)", 5, True),
        ("keypad_fault", "Keys 4 and 7 do not respond", 100, False),
        ("display_fault", "Display blank", 2, False),
    ]
    for category, text, hours, assign in rows:
        fault = faults.register_fault(
            actor=world.supervisor,
            meter=world.add_meter(),
            description=text,
            category=category,
            reporter_name="Amina",
        )
        FaultReport.objects.filter(pk=fault.pk).update(
            registered_at=timezone.now() - timedelta(hours=hours)
        )
        if assign:
            faults.assign_fault(actor=world.supervisor, fault=fault, assignee=agent)


def test_fault_list_meter_action_and_statement_in_english_and_arabic(
    page, shots: Shots, live_server, world: World
) -> None:
    base = live_server.url
    _faults(world)
    meter = world.add_meter(name="Fatuma Hassan")
    customer = world.customer(meter)
    customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money("300"), reason="Old bill"
    )
    sales = [
        vending.vend_credit(
            actor=world.cashier,
            vending_point=world.point,
            client_reference=f"stmt-{amount}",
            meter_number=meter.number,
            tender=world.money(amount),
        ).sale
        for amount in ("800", "450")
    ]
    vending.reverse_sale(actor=world.supervisor, sale=sales[1], reason="Paid for the wrong meter")
    spare = meters.register_meter(
        actor=world.admin,
        number=meter_number(99_000_001),
        org_unit=world.unit,
        sgc="600675",
        ti=1,
        krn=2,
        key_ref=world.key_ref,
    )
    for language in ("en", "ar"):
        set_language(actor=world.supervisor, language=language)
        _sign_in(page, base, world.supervisor.username)
        page.goto(f"{base}/supervisor/faults/")
        page.wait_for_selector("#faults")
        assert page.locator("#faults tr.table-danger").count() >= 2
        shots(f"fault-list-{language}")
        page.goto(f"{base}/supervisor/faults/?breached=1&category=no_supply")
        page.wait_for_selector("#faults")
        assert page.locator("#faults tbody tr").count() == 1

        page.goto(f"{base}/meters/{meter.pk}/")
        page.click("#action-replace")
        page.fill("#id_new_meter_number", spare.number)
        page.fill("#id_remaining_kwh", "12.5")
        page.fill("#id_reason", "Display dead")
        page.click("#review")
        page.wait_for_selector("#confirm-summary")
        assert spare.number in page.inner_text("#confirm-summary")
        shots(f"meter-replace-confirm-{language}")

        page.goto(f"{base}/customers/{customer.pk}/statement/")
        page.wait_for_selector("#statement")
        assert sales[0].reference in page.inner_text("#statement")
        shots(f"customer-statement-{language}")
        page.emulate_media(media="print")
        shots(f"customer-statement-print-{language}")
        page.emulate_media(media="screen")

    # Confirming the replacement moves the customer and issues the transfer token.
    page.goto(f"{base}/meters/{meter.pk}/replace/")
    page.fill("#id_new_meter_number", spare.number)
    page.fill("#id_remaining_kwh", "12.5")
    page.fill("#id_reason", "Display dead")
    page.click("#review")
    page.click("#confirm")
    page.wait_for_load_state()
    spare.refresh_from_db()
    assert spare.customer_id == customer.pk
    assert Decimal(spare.sales.get().kwh) >= Decimal("12.5")
    shots("meter-replaced-ar")
