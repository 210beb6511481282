"""The data migrations that turn phones stored as typed into E.164: numbers are rewritten, what
is not a number is left as it was and counted on the output."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps

from gridvend.customers.models import Customer
from gridvend.identity.models import User
from gridvend.meters import faults
from gridvend.meters.models import FaultReport
from tests import factories
from tests.masterdata import factories as md
from tests.masterdata.conftest import World

pytestmark = pytest.mark.django_db


def _migration(app: str, name: str) -> Callable[[Any, Any], None]:
    module = importlib.import_module(f"gridvend.{app}.migrations.{name}")
    normalise: Callable[[Any, Any], None] = module.normalise_phones
    return normalise


def test_old_customer_phones_become_e164_and_the_others_are_counted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = {
        "0745 275 900": "+254745275900",
        "(074) 527-5901": "+254745275901",
        "254745275902": "+254745275902",
        "+254745275903": "+254745275903",
        "+44 20 7946 0958": "+442079460958",
        "call the shop": "call the shop",
        "0700": "0700",
        "": "",
    }
    made = {}
    for old in typed:
        customer = md.customer(org_unit=world.tree.north_sc)
        # Written as it was before phones were normalised, past the service.
        Customer.objects.filter(pk=customer.pk).update(phone=old)
        made[customer.pk] = old
    capsys.readouterr()

    _migration("customers", "0004_phones_e164")(apps, None)

    for pk, old in made.items():
        assert Customer.objects.get(pk=pk).phone == typed[old]
    out = capsys.readouterr().out
    assert "customer phones: 4 written as E.164, 2 left as they were" in out
    assert "(not a phone number in KE)" in out


def test_the_migration_reads_local_numbers_in_the_configured_country(
    world: World, settings: Any
) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    Customer.objects.filter(pk=customer.pk).update(phone="0803 123 4567")
    settings.DEFAULT_COUNTRY = "NG"
    _migration("customers", "0004_phones_e164")(apps, None)
    customer.refresh_from_db()
    assert customer.phone == "+2348031234567"


def test_a_second_run_changes_nothing_and_says_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    md.customer(org_unit=world.tree.north_sc, phone="0745 275 900")
    capsys.readouterr()
    _migration("customers", "0004_phones_e164")(apps, None)
    assert capsys.readouterr().out == ""


def test_old_user_and_fault_caller_phones_become_e164(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    user = factories.user(world.tree.north_sc)
    User.objects.filter(pk=user.pk).update(phone="0745 275 900")
    meter = md.meter(org_unit=world.tree.north_sc)
    fault = faults.register_fault(actor=world.tree.admin, meter=meter, description="sparks")
    FaultReport.objects.filter(pk=fault.pk).update(reporter_phone="ring Amina")
    other = faults.register_fault(actor=world.tree.admin, meter=meter, description="dark")
    FaultReport.objects.filter(pk=other.pk).update(reporter_phone="(074) 527-5900")
    capsys.readouterr()

    _migration("identity", "0004_phones_e164")(apps, None)
    _migration("meters", "0005_fault_reporter_phones_e164")(apps, None)

    user.refresh_from_db()
    fault.refresh_from_db()
    other.refresh_from_db()
    assert user.phone == "+254745275900"
    assert (fault.reporter_phone, other.reporter_phone) == ("ring Amina", "+254745275900")
    out = capsys.readouterr().out
    assert "user phones: 1 written as E.164, 0 left" in out
    assert "fault callers' phones: 1 written as E.164, 1 left" in out
