"""Shared set-up for the master-data tests: a tree, people with and without rights, a snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.customers.models import Customer, Debt, Premise
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.ledger.models import Account, JournalEntry, Posting
from gridvend.meters.models import Installation, KeyChange, Meter
from gridvend.tariffs.models import Tariff
from tests import factories
from tests.masterdata import factories as md


@dataclass
class World:
    tree: factories.Tree
    tariff: Tariff  # published at the root, so it applies everywhere
    care: User  # vending-point manager with customer care, in North
    care_operator: User  # operator with customer care, in North
    field_agent: User  # operator with field agent, in North
    cashier: User  # operator with cashier only, in North
    finance: User  # vending-point manager with finance, in North
    ms_manager: User  # master-station manager without capabilities, in North
    care_south: User  # vending-point manager with customer care, in South


@pytest.fixture
def world() -> World:
    tree = factories.Tree()
    north = tree.north
    md.vending_key()
    return World(
        tree=tree,
        tariff=md.default_tariff(),
        care=factories.user(north, Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,)),
        care_operator=factories.user(north, Role.OPERATOR, (Capability.CUSTOMER_CARE,)),
        field_agent=factories.user(north, Role.OPERATOR, (Capability.FIELD_AGENT,)),
        cashier=factories.user(north, Role.OPERATOR, (Capability.CASHIER,)),
        finance=factories.user(north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,)),
        ms_manager=factories.user(north, Role.MASTER_STATION_MANAGER),
        care_south=factories.user(
            tree.south, Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,)
        ),
    )


def snapshot() -> tuple[Any, ...]:
    """Every row a refused master-data request must leave exactly as it was."""
    return (
        list(Customer.objects.order_by("pk").values()),
        list(Premise.objects.order_by("pk").values()),
        list(Debt.objects.order_by("pk").values()),
        list(Meter.objects.order_by("pk").values()),
        list(Installation.objects.order_by("pk").values()),
        list(KeyChange.objects.order_by("pk").values()),
        list(Account.objects.order_by("pk").values("code", "balance_minor")),
        JournalEntry.objects.count(),
        Posting.objects.count(),
        AuditEvent.objects.count(),
    )


def payload(value: Any) -> dict[str, Any]:
    """An audit event's before/after as the dict the service wrote."""
    assert isinstance(value, dict)
    return value
