"""Tariffs for tests, published through the real services; vending tests reuse them."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.org.models import OrgUnit
from gridvend.tariffs import services
from gridvend.tariffs.models import Tariff, TariffVersion
from tests import factories

_seq = itertools.count(1)

# Early enough that the tariff is in force at any instant a test pins its clock to.
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

RESIDENTIAL_SPEC: dict[str, Any] = {
    "currency": "KES",
    "energy": {
        "type": "blocks",
        "blocks": [
            {"up_to_kwh": "50", "rate": "12.00"},
            {"up_to_kwh": "150", "rate": "18.50"},
            {"up_to_kwh": None, "rate": "24.00"},
        ],
    },
    "fixed_charges": [
        {
            "name": "Service charge",
            "amount_minor": 15000,
            "period": "month",
            "max_periods": 3,
            "max_amount_minor": None,
        }
    ],
    "taxes": [
        {
            "code": "VAT",
            "rate": "0.16",
            "applies_to_energy": True,
            "applies_to_fixed": True,
            "inclusive": False,
        }
    ],
    "fbe_kwh": {"residential": "50"},
    "debt_recovery": {
        "rate": "0.25",
        "min_per_sale_minor": 1000,
        "max_per_sale_minor": 50000,
        "max_per_month_minor": 200000,
    },
    "min_sale_minor": 5000,
    "max_sale_minor": 10000000,
}


def residential_spec(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of the default spec (KES, three blocks, VAT 16 % exclusive, FBE, debt rule)."""
    spec = copy.deepcopy(RESIDENTIAL_SPEC)
    spec.update(overrides)
    return spec


def finance_user(unit: OrgUnit, role: str = Role.VENDING_POINT_MANAGER) -> User:
    return factories.user(unit, role, (Capability.FINANCE,))


def published_tariff(
    *,
    actor: User | None = None,
    org_unit: OrgUnit | None = None,
    spec: dict[str, Any] | None = None,
    code: str | None = None,
    effective_from: datetime | None = None,
) -> Tariff:
    """A tariff with one published version, in force from ``effective_from`` (default: 2000).

    ``actor`` drafts and submits (default: a new finance manager); a second finance user, made
    here, approves, which satisfies the maker–checker rule without the caller arranging it.
    """
    if org_unit is None:
        org_unit = actor.org_unit if actor is not None else factories.root_and_admin()[0]
    maker = actor or finance_user(org_unit)
    checker = finance_user(maker.org_unit, Role.MASTER_STATION_MANAGER)
    spec = spec or residential_spec()
    number = next(_seq)
    tariff = services.create_tariff(
        actor=maker,
        code=code or f"residential-{number}",
        name=f"Residential {number}",
        org_unit=org_unit,
        currency=spec["currency"],
    )
    version = services.create_tariff_draft(actor=maker, tariff=tariff, spec=spec)
    services.submit_tariff_version(actor=maker, version=version)
    when = effective_from or LONG_AGO
    now = timezone.now()
    services.publish_tariff_version(actor=checker, version=version, effective_from=max(when, now))
    if when < now:
        # Publishing refuses the past, rightly; tests that price sales at a pinned past instant
        # still need a tariff in force then, so only test data is backdated, after approval.
        TariffVersion.objects.filter(pk=version.pk).update(effective_from=when)
    return tariff
