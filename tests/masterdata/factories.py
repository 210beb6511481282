"""Customers, premises, meters and vending keys for tests, made through the real services."""

from __future__ import annotations

import itertools
from typing import Any

from gridvend.customers import services as customers
from gridvend.customers.models import Customer, Premise
from gridvend.identity.models import User
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import store_vending_key
from gridvend.meters import services as meters
from gridvend.meters.models import Meter
from gridvend.org.models import OrgUnit
from gridvend.sts.identity import MeterNumber
from gridvend.tariffs.models import Tariff
from tests import factories
from tests.tariffs.factories import published_tariff

# Test-only vending keys (never used outside tests): DKGA02 keys are 8 bytes, DKGA04 keys 20.
TEST_KEYS = {"02": "0abc12def3456789", "04": "00112233445566778899aabbccddeeff01234567"}
DEFAULT_TARIFF_CODE = "masterdata-residential"
_serials = itertools.count(1)


def vending_key(key_ref: str = "test-vk", dkga: str = "02") -> VendingKeyRecord:
    """The stored vending key called ``key_ref``, created on first use."""
    existing = VendingKeyRecord.objects.filter(key_ref=key_ref).first()
    if existing is not None:
        return existing
    return store_vending_key(actor=None, key_ref=key_ref, key_hex=TEST_KEYS[dkga], dkga=dkga)


def meter_number(serial: int, mfr: str = "04") -> str:
    """A valid 11-digit meter number (manufacturer code, 8-digit serial, Luhn digit)."""
    return MeterNumber.from_parts(mfr, serial).digits


def _admin() -> User:
    return factories.root_and_admin()[1]


def default_tariff(org_unit: OrgUnit | None = None) -> Tariff:
    """A published KES tariff; without a unit, one shared tariff at the root."""
    if org_unit is None:
        existing = Tariff.objects.filter(code=DEFAULT_TARIFF_CODE).first()
        if existing is not None:
            return existing
        return published_tariff(org_unit=factories.root_and_admin()[0], code=DEFAULT_TARIFF_CODE)
    return published_tariff(org_unit=org_unit)


def customer(
    *,
    org_unit: OrgUnit | None = None,
    tariff: Tariff | None = None,
    name: str = "",
    actor: User | None = None,
    **fields: Any,
) -> Customer:
    unit = org_unit or factories.root_and_admin()[0]
    return customers.create_customer(
        actor=actor or _admin(),
        name=name or f"Customer {next(_serials)}",
        org_unit=unit,
        tariff=tariff or default_tariff(),
        category=fields.pop("category", "residential"),
        **fields,
    )


def premise(*, org_unit: OrgUnit | None = None, address: str = "", **fields: Any) -> Premise:
    return customers.create_premise(
        actor=_admin(),
        org_unit=org_unit or factories.root_and_admin()[0],
        address=address or f"{next(_serials)} Test Street",
        **fields,
    )


def meter(
    *,
    number: str = "",
    org_unit: OrgUnit | None = None,
    customer: Customer | None = None,
    premise: Premise | None = None,
    key_ref: str = "test-vk",
    dkga: str = "02",
    actor: User | None = None,
    **params: Any,
) -> Meter:
    """A registered meter with valid key parameters; given a customer, installed for them (at
    ``premise``, or a new premise in the customer's unit)."""
    unit = org_unit or (customer.org_unit if customer is not None else None)
    unit = unit or factories.root_and_admin()[0]
    vending_key(key_ref, dkga)
    keys: dict[str, Any] = {"sgc": "123456", "ti": 1, "krn": 1}
    keys.update(params)
    made = meters.register_meter(
        actor=actor or _admin(),
        number=number or meter_number(next(_serials) + 50_000_000),  # apart from tests.world
        org_unit=unit,
        key_ref=key_ref,
        dkga=dkga,
        **keys,
    )
    if customer is not None:
        where = premise or customers.create_premise(
            actor=_admin(), org_unit=customer.org_unit, address=f"{next(_serials)} Meter Road"
        )
        meters.install_meter(actor=actor or _admin(), meter=made, customer=customer, premise=where)
        made.refresh_from_db()
    return made
