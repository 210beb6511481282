"""Shared set-up for the tariff tests: a tree, makers and checkers, and a snapshot of all state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Role
from gridvend.tariffs import services
from gridvend.tariffs.models import Tariff, TariffVersion
from tests import factories
from tests.tariffs.factories import finance_user, residential_spec


@dataclass
class Cast:
    tree: factories.Tree
    maker: User  # vending-point manager with finance, in North
    checker: User  # master-station manager with finance, in North
    tariff: Tariff  # defined in North, no versions yet

    def draft(self, *, actor: User | None = None, **overrides: Any) -> TariffVersion:
        return services.create_tariff_draft(
            actor=actor or self.maker, tariff=self.tariff, spec=residential_spec(**overrides)
        )

    def submitted(self, *, actor: User | None = None, **overrides: Any) -> TariffVersion:
        version = self.draft(actor=actor, **overrides)
        return services.submit_tariff_version(actor=actor or self.maker, version=version)


@pytest.fixture
def cast() -> Cast:
    tree = factories.Tree()
    maker = finance_user(tree.north)
    checker = finance_user(tree.north, Role.MASTER_STATION_MANAGER)
    tariff = services.create_tariff(
        actor=maker, code="north-res", name="North residential", org_unit=tree.north, currency="KES"
    )
    return Cast(tree=tree, maker=maker, checker=checker, tariff=tariff)


def snapshot() -> tuple[Any, ...]:
    """Everything a refused tariff action must leave untouched."""
    versions = list(
        TariffVersion.objects.order_by("pk").values_list(
            "pk",
            "number",
            "status",
            "spec",
            "effective_from",
            "notes",
            "submitted_by",
            "approved_by",
            "rejection_reason",
        )
    )
    tariffs = list(Tariff.objects.order_by("pk").values_list("pk", "code", "name", "currency"))
    return tariffs, versions, AuditEvent.objects.count()
