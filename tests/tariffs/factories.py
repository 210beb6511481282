"""Tariffs for tests, published through the real services; vending tests reuse them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.org.models import OrgUnit
from gridvend.tariffs import services
from gridvend.tariffs.examples import residential_spec
from gridvend.tariffs.models import Tariff, TariffVersion
from tests import factories

_seq = itertools.count(1)

# Early enough that the tariff is in force at any instant a test pins its clock to.
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

# The worked example every tariff test starts from; a fresh copy comes from residential_spec().
RESIDENTIAL_SPEC = residential_spec()


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
