"""Writes through the back office: refused attempts change nothing, allowed ones go through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.customers.models import Customer, CustomerStatus, Debt, Premise
from gridvend.meters.models import Installation, Meter
from gridvend.tariffs import services as tariff_services
from gridvend.tariffs.models import Tariff, TariffVersion, VersionStatus
from tests.backoffice.conftest import World, snapshot
from tests.masterdata import factories as md
from tests.signin import signed_in as client_for

pytestmark = pytest.mark.django_db


def _customer_data(world: World, unit: Any = None, **extra: Any) -> dict[str, Any]:
    data = {
        "name": "Zawadi Otieno",
        "category": "residential",
        "org_unit": (unit or world.tree.north_sc).pk,
        "tariff": world.tariff.pk,
        "phone": "+254700000009",
    }
    data.update(extra)
    return data


def _meter_data(world: World, unit: Any = None, **extra: Any) -> dict[str, Any]:
    data = {
        "number": md.meter_number(77_000_001),
        "org_unit": (unit or world.tree.north_sc).pk,
        "sgc": "123456",
        "ti": 1,
        "krn": 1,
        "kt": 2,
        "ken": 255,
        "ea": "07",
        "dkga": "02",
        "base_date_year": 2014,
        "key_ref": "test-vk",
        "make": "Acme",
        "model": "A1",
        "phases": 1,
        "carrier": "keypad",
    }
    data.update(extra)
    return data


Post = Callable[[World], tuple[str, str, dict[str, Any], int]]

# (who, url, data, expected status) for attempts the back office must refuse without a trace,
# beyond the missing-capability and other-region posts every row of tests/matrix.py tries.
REFUSED: dict[str, Post] = {
    "cashier creates a customer": lambda w: ("cashier", "/customers/new/", _customer_data(w), 403),
    "care creates a customer in another region": lambda w: (
        "care",
        "/customers/new/",
        _customer_data(w, w.tree.south_sc),
        200,
    ),
    "care suspends without a reason": lambda w: (
        "care",
        f"/customers/{w.north.customer.pk}/",
        {"status": "suspended", "reason": " "},
        200,
    ),
    "maker creates a premise": lambda w: (
        "maker",
        "/premises/new/",
        {"org_unit": w.tree.north_sc.pk, "address": "1 Nowhere"},
        403,
    ),
    "care installs a meter for another region's customer": lambda w: (
        "care",
        f"/meters/{w.north.meter.pk}/install/",
        {"account_number": w.south.customer.account_number, "premise": w.north.premise.pk},
        200,
    ),
    "care creates a tariff": lambda w: (
        "care",
        "/tariffs/new/",
        {"code": "x", "name": "X", "org_unit": w.tree.north.pk, "currency": "KES"},
        403,
    ),
    "maker publishes": lambda w: (
        "maker",
        f"/tariff-versions/{w.north.draft.pk}/",
        {"action": "publish", "effective_from": "2099-01-01T00:00"},
        403,
    ),
    "maker rejects": lambda w: (
        "maker",
        f"/tariff-versions/{w.north.draft.pk}/",
        {"action": "reject", "reason": "No"},
        403,
    ),
    "care withdraws": lambda w: (
        "care",
        f"/tariff-versions/{w.north.draft.pk}/",
        {"action": "withdraw"},
        403,
    ),
    "an unknown action": lambda w: (
        "maker",
        f"/tariff-versions/{w.north.draft.pk}/",
        {"action": "delete"},
        403,
    ),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_refused_post_changes_nothing(world: World, case: str) -> None:
    who, url, data, status = REFUSED[case](world)
    before = snapshot()
    response = client_for(world.user(who)).post(url, data)
    assert response.status_code == status
    assert snapshot() == before


# Allowed writes ---------------------------------------------------------------------------------


def test_care_creates_edits_and_suspends_a_customer(world: World) -> None:
    client = client_for(world.care)
    response = client.post("/customers/new/", _customer_data(world, account_number="MIG-0001"))
    customer = Customer.objects.get(account_number="MIG-0001")
    assert response["Location"] == f"/customers/{customer.pk}/"
    data = _customer_data(world, name="Zawadi A. Otieno", email="z@example.org")
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Zawadi A. Otieno" and customer.email == "z@example.org"
    response = client.post(
        f"/customers/{customer.pk}/", {"status": "suspended", "reason": "Meter tampering"}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.SUSPENDED
    event = AuditEvent.objects.filter(event_type="customer.status_changed").latest("id")
    assert event.after is not None and event.after["reason"] == "Meter tampering"


def test_a_taken_account_number_is_shown_beside_the_field(world: World) -> None:
    taken = world.north.customer.account_number
    response = client_for(world.care).post(
        "/customers/new/", _customer_data(world, account_number=taken)
    )
    assert response.status_code == 200
    assert "already used by another customer" in response.content.decode()


def test_care_creates_and_edits_a_premise(world: World) -> None:
    client = client_for(world.care)
    data = {"org_unit": world.tree.north_sc.pk, "address": "7 Mill Lane", "latitude": "1.5"}
    assert client.post("/premises/new/", data).status_code == 302
    premise = Premise.objects.get(address="7 Mill Lane")
    assert str(premise.latitude) == "1.500000"
    data = {"org_unit": world.tree.north_sc.pk, "address": "7 Mill Lane", "latitude": ""}
    assert client.post(f"/premises/{premise.pk}/edit/", data).status_code == 302
    premise.refresh_from_db()
    assert premise.latitude is None


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("name", "Zawadi \u202eonetiO", "text-direction control"),
        ("name", "Zawadi\u200bOtieno", "invisible characters"),
        ("national_id", "1" * 10_000, "at most 40 characters"),
        ("phone", "+254\x07700000009", "control characters"),
    ],
)
def test_the_customer_screen_refuses_hidden_or_overlong_text(
    world: World, field: str, value: str, problem: str
) -> None:
    before = snapshot()
    response = client_for(world.care).post(
        "/customers/new/", _customer_data(world, **{field: value})
    )
    assert response.status_code == 200
    assert problem in " ".join(response.context["form"].errors[field])
    assert snapshot() == before


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("address", "7 Mill \u202eenaL", "text-direction control"),
        ("feeder", "F\u2066" + "1", "text-direction control"),
        ("latitude", "91", "largest value is 90"),
        ("longitude", "1e2", "Enter a number"),
        ("latitude", "1.1234567", "6 decimal places"),
    ],
)
def test_the_premise_screen_refuses_bad_text_and_coordinates(
    world: World, field: str, value: str, problem: str
) -> None:
    data = {"org_unit": world.tree.north_sc.pk, "address": "7 Mill Lane", field: value}
    before = snapshot()
    response = client_for(world.care).post("/premises/new/", data)
    assert response.status_code == 200
    assert problem in " ".join(response.context["form"].errors[field])
    assert snapshot() == before


def test_a_southern_latitude_is_kept(world: World) -> None:
    data = {"org_unit": world.tree.north_sc.pk, "address": "2 Rift Rd", "latitude": "-1.292066"}
    assert client_for(world.care).post("/premises/new/", data).status_code == 302
    assert str(Premise.objects.get(address="2 Rift Rd").latitude) == "-1.292066"


def test_finance_opens_a_debt(world: World) -> None:
    customer = world.north.customer
    response = client_for(world.maker).post(
        f"/customers/{customer.pk}/debts/new/", {"amount": "120.50", "reason": "Back billing"}
    )
    assert response.status_code == 302
    debt = Debt.objects.filter(customer=customer).latest("id")
    assert (debt.original_minor, debt.balance_minor) == (12050, 12050)
    page = client_for(world.care).get(f"/customers/{customer.pk}/debts/").content.decode()
    assert "KES 145.50" in page  # 25.00 opened in the fixture plus 120.50


def test_field_agent_registers_edits_and_installs_a_meter(world: World) -> None:
    client = client_for(world.field)
    response = client.post("/meters/new/", _meter_data(world))
    meter = Meter.objects.get(number=md.meter_number(77_000_001))
    assert response["Location"] == f"/meters/{meter.pk}/"
    data = {"make": "Hexing", "model": "HXE", "phases": 3, "carrier": "keypad"}
    assert client.post(f"/meters/{meter.pk}/edit/", data).status_code == 302
    meter.refresh_from_db()
    assert (meter.make, meter.phases) == ("Hexing", 3)
    data = {
        "account_number": world.north.customer.account_number,
        "premise": world.north.premise.pk,
    }
    assert client.post(f"/meters/{meter.pk}/install/", data).status_code == 302
    assert Installation.objects.filter(meter=meter, ended_at__isnull=True).count() == 1


def test_a_wrong_check_digit_is_shown_beside_the_meter_number(world: World) -> None:
    good = md.meter_number(77_000_001)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    response = client_for(world.field).post("/meters/new/", _meter_data(world, number=bad))
    assert response.status_code == 200
    form = response.context["form"]
    assert "check digit" in " ".join(form.errors["number"])


# Tariffs -----------------------------------------------------------------------------------------


FLAT = '{"currency": "KES", "energy": {"type": "flat", "rate": 21.5}, "min_sale_minor": 5000}'


def test_maker_drafts_a_version_from_json_with_plain_numbers(world: World) -> None:
    client = client_for(world.maker)
    response = client.post(f"/tariffs/{world.north.tariff.pk}/versions/new/json/", {"spec": FLAT})
    version = TariffVersion.objects.filter(tariff=world.north.tariff).latest("number")
    assert response["Location"] == f"/tariff-versions/{version.pk}/"
    assert version.spec["energy"] == {"type": "flat", "rate": "21.5"}
    assert version.status == VersionStatus.DRAFT


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ('{"currency": "KES", "energy": ', "This is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (
            '{"currency": "KES", "energy": {"type": "blocks", "blocks": ['
            '{"up_to_kwh": "50", "rate": "10"}, {"up_to_kwh": "40", "rate": "12"}]}}',
            "energy.blocks[1]",
        ),
        ('{"currency": "USD", "energy": {"type": "flat", "rate": "1"}}', "must be KES"),
    ],
)
def test_a_bad_specification_is_explained_and_nothing_is_saved(
    world: World, spec: str, shown: str
) -> None:
    before = snapshot()
    response = client_for(world.maker).post(
        f"/tariffs/{world.north.tariff.pk}/versions/new/json/", {"spec": spec}
    )
    assert response.status_code == 200
    assert shown in response.content.decode()
    assert snapshot() == before


def test_maker_checker_review_through_the_screens(world: World) -> None:
    draft = world.north.draft
    url = f"/tariff-versions/{draft.pk}/"
    maker = client_for(world.maker)
    page = maker.get(url).content.decode()
    assert 'value="submit"' in page and 'value="publish"' not in page
    assert maker.post(url, {"action": "submit"}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == VersionStatus.SUBMITTED
    checker = client_for(world.checker)
    page = checker.get(url).content.decode()
    assert 'value="publish"' in page and 'value="reject"' in page
    when = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = checker.post(url, {"action": "publish", "effective_from": when})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED and draft.approved_by == world.checker
    # Published but not yet in force: only a reviewer may still withdraw it.
    assert 'value="withdraw"' not in maker.get(url).content.decode()
    assert checker.post(url, {"action": "withdraw"}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == VersionStatus.WITHDRAWN


def test_the_author_cannot_approve_and_is_told_why(world: World) -> None:
    # A reviewer who drafted the version sees the rule instead of the buttons, and a forced post
    # is refused in plain words.
    version = tariff_services.create_tariff_draft(
        actor=world.checker, tariff=world.north.tariff, spec=md_spec()
    )
    tariff_services.submit_tariff_version(actor=world.checker, version=version)
    client = client_for(world.checker)
    url = f"/tariff-versions/{version.pk}/"
    page = client.get(url).content.decode()
    assert "someone else must approve or reject it" in page
    assert 'value="publish"' not in page
    before = snapshot()
    when = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(url, {"action": "publish", "effective_from": when}, follow=True)
    assert "someone else must approve or reject it" in response.content.decode()
    assert snapshot() == before


def test_rejection_reason_reaches_the_author(world: World) -> None:
    draft = world.north.draft
    tariff_services.submit_tariff_version(actor=world.maker, version=draft)
    url = f"/tariff-versions/{draft.pk}/"
    response = client_for(world.checker).post(url, {"action": "reject", "reason": "VAT is 16 %"})
    assert response.status_code == 302
    page = client_for(world.maker).get(url).content.decode()
    assert "VAT is 16 %" in page and "Edit draft" in page


def test_publishing_in_the_past_is_refused_beside_the_date(world: World) -> None:
    draft = world.north.draft
    tariff_services.submit_tariff_version(actor=world.maker, version=draft)
    before = snapshot()
    response = client_for(world.checker).post(
        f"/tariff-versions/{draft.pk}/", {"action": "publish", "effective_from": "2001-01-01T00:00"}
    )
    assert response.status_code == 200
    assert "cannot take effect in the past" in response.content.decode()
    assert snapshot() == before


def test_compare_lists_the_changed_fields(world: World) -> None:
    tariff = world.north.tariff
    versions = list(tariff.versions.order_by("number"))
    url = f"/tariffs/{tariff.pk}/compare/?a={versions[0].pk}&b={versions[1].pk}"
    page = client_for(world.auditor).get(url).content.decode()
    assert "min_sale_minor" in page and "6000" in page


def test_maker_creates_a_tariff(world: World) -> None:
    data: dict[str, Any] = {"code": "north-commercial", "name": "North commercial"}
    data.update(currency="KES", org_unit=world.tree.north.pk)
    response = client_for(world.maker).post("/tariffs/new/", data)
    tariff = Tariff.objects.get(code="north-commercial")
    assert response["Location"] == f"/tariffs/{tariff.pk}/versions/new/"


def md_spec() -> dict[str, Any]:
    from tests.tariffs.factories import residential_spec

    return residential_spec(max_sale_minor=9_000_000)
