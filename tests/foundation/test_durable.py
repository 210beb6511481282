"""Durable use cases: each public use case opens the outermost transaction, so one can never run
inside another's by accident, and a ledger posting only ever runs inside its caller's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.db import transaction

from gridvend.customers import services as customers
from gridvend.identity import services as identity
from gridvend.identity.backends import LockoutAwareBackend
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.keys import services as keys
from gridvend.ledger import services as ledger
from gridvend.meters import faults
from gridvend.meters import services as meters
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.tariffs import services as tariffs
from tests import factories
from tests.world import World, build_world, meter_number

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Given:
    """What the cases act on, made by use cases of their own before any enclosing transaction."""

    world: World
    meter: Meter
    user: User


UseCase = Callable[[Given], Any]

CASES: dict[str, UseCase] = {
    "identity.set_language": lambda g: identity.set_language(actor=g.world.admin, language="en"),
    "identity.unlock_user": lambda g: identity.unlock_user(actor=g.world.admin, user=g.user),
    "identity.sign_in": lambda g: LockoutAwareBackend().authenticate(
        None, username=g.user.username, password="wrong"
    ),
    "org.ensure_levels": lambda g: org.ensure_levels(),
    "org.create_unit": lambda g: org.create_unit(
        actor=g.world.admin, parent=g.world.unit, name="Depot"
    ),
    "customers.create_customer": lambda g: customers.create_customer(
        actor=g.world.admin,
        name="Nested",
        org_unit=g.world.unit,
        tariff=g.world.tariff,
        category="residential",
    ),
    "customers.create_premise": lambda g: customers.create_premise(
        actor=g.world.admin, org_unit=g.world.unit, address="1 Nested Rd"
    ),
    "customers.open_debt": lambda g: customers.open_debt(
        actor=g.world.supervisor,
        customer=g.world.customer(g.meter),
        amount=g.world.money("10"),
        reason="arrears",
    ),
    "tariffs.create_tariff": lambda g: tariffs.create_tariff(
        actor=g.world.supervisor,
        code="nested",
        name="Nested",
        org_unit=g.world.unit,
        currency=g.world.tariff.currency,
    ),
    "meters.register_meter": lambda g: meters.register_meter(
        actor=g.world.admin,
        number=meter_number(99_000_001),
        org_unit=g.world.unit,
        sgc="600675",
        ti=1,
        krn=2,
        key_ref=g.world.key_ref,
    ),
    "meters.block_meter": lambda g: meters.block_meter(
        actor=g.world.admin, meter=g.meter, reason="tamper"
    ),
    "meters.register_fault": lambda g: faults.register_fault(
        actor=g.world.admin, meter=g.meter, description="No supply"
    ),
    "keys.set_vending_key_active": lambda g: keys.set_vending_key_active(
        actor=g.world.admin, key_ref=g.world.key_ref, is_active=False
    ),
}


@pytest.fixture
def given() -> Given:
    world = build_world()
    user = factories.user(world.unit, Role.OPERATOR, (Capability.CASHIER,))
    return Given(world, world.add_meter(), user)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_use_case_refuses_to_run_inside_another_transaction(given: Given, name: str) -> None:
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        CASES[name](given)


def test_the_same_use_case_runs_on_its_own(given: Given) -> None:
    unit = org.create_unit(actor=given.world.admin, parent=given.world.unit, name="Depot")
    assert unit.parent_id == given.world.unit.pk


def _draft() -> Any:
    return journal(
        [
            Posting("cash:test", Money(100, "KES")),
            Posting(ledger.ENERGY_REVENUE, Money(-100, "KES")),
        ],
        memo="test",
    )


@pytest.mark.django_db(transaction=True)
def test_a_journal_entry_is_never_posted_outside_a_transaction() -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        ledger.post_journal_entry(
            _draft(), kind="sale", business_date=date(2026, 6, 15), actor=None
        )


def test_a_journal_entry_is_posted_inside_its_callers_transaction() -> None:
    with transaction.atomic():
        entry = ledger.post_journal_entry(
            _draft(), kind="sale", business_date=date(2026, 6, 15), actor=None
        )
    assert entry.postings.count() == 2


# transactional_db: outside a test transaction, so "no caller's transaction" is really none.
def test_a_use_case_runs_as_a_step_of_the_callers_transaction_only_inside_one(
    transactional_db: None,
) -> None:
    from gridvend.customers.services import create_premise

    tree = factories.Tree()
    care = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,))
    with pytest.raises(RuntimeError, match="within_transaction needs the caller's transaction"):
        create_premise.within_transaction(actor=care, org_unit=tree.north_sc, address="1 Step Road")
    with transaction.atomic():
        premise = create_premise.within_transaction(
            actor=care, org_unit=tree.north_sc, address="1 Step Road"
        )
        transaction.set_rollback(True)
    assert not type(premise).objects.filter(address="1 Step Road").exists()
