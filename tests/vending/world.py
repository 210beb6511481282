"""A small utility for vending tests, built through the real services, with a meter simulator
holding each meter's key so every token can be typed in as a customer would."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gridvend.customers import services as customers
from gridvend.customers.models import Customer
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.money import Money
from gridvend.keys import services as keys
from gridvend.keys.engine import meter_params
from gridvend.meters import services as meters
from gridvend.meters.models import Meter
from gridvend.meters.selectors import meter_key_ref
from gridvend.org import services as org
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.sts.identity import MeterNumber
from gridvend.sts.keys import VendingKey
from gridvend.sts.simulator import MeterSimulator
from gridvend.tariffs.models import Tariff
from tests import factories
from tests.tariffs.factories import published_tariff, residential_spec

_serial = itertools.count(10_000_001)
NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)


def meter_number(serial: int, mfr: str = "04") -> str:
    return str(MeterNumber.from_parts(mfr, f"{serial:08d}"))


@dataclass
class World:
    tree: factories.Tree
    admin: User
    cashier: User
    supervisor: User
    point: VendingPoint
    tariff: Tariff
    key_ref: str
    vending_key_hex: str
    clock: FixedClock
    simulators: dict[str, MeterSimulator] = field(default_factory=dict)

    @property
    def unit(self) -> OrgUnit:
        return self.tree.north_sc

    def money(self, major: str) -> Money:
        return Money.from_major(major, self.tariff.currency)

    def add_meter(
        self,
        *,
        category: str = "residential",
        unit: OrgUnit | None = None,
        tariff: Tariff | None = None,
        base_date_year: int = 2014,
        krn: int = 2,
        name: str = "",
        address: str = "1 Test Rd",
    ) -> Meter:
        unit = unit or self.unit
        customer = customers.create_customer(
            actor=self.admin,
            name=name or f"Customer {next(_serial)}",
            org_unit=unit,
            tariff=tariff or self.tariff,
            category=category,
        )
        premise = customers.create_premise(actor=self.admin, org_unit=unit, address=address)
        meter = meters.register_meter(
            actor=self.admin,
            number=meter_number(next(_serial)),
            org_unit=unit,
            sgc="600675",
            ti=1,
            krn=krn,
            base_date_year=base_date_year,
            key_ref=self.key_ref,
        )
        meters.install_meter(actor=self.admin, meter=meter, customer=customer, premise=premise)
        meter.refresh_from_db()
        self.simulators[meter.number] = MeterSimulator.for_meter(
            meter_params(meter_key_ref(meter)), VendingKey.from_hex(self.vending_key_hex)
        )
        return meter

    def customer(self, meter: Meter) -> Customer:
        assert meter.customer is not None
        return meter.customer

    def simulator(self, meter: Meter) -> MeterSimulator:
        return self.simulators[meter.number]


def build_world(*, spec: dict[str, Any] | None = None, now: datetime = NOW) -> World:
    tree = factories.Tree()
    admin = tree.admin
    key_hex = secrets.token_hex(8)
    key_ref = f"vk-{next(_serial)}"
    keys.store_vending_key(actor=admin, key_ref=key_ref, key_hex=key_hex, dkga="02")
    tariff = published_tariff(actor=None, org_unit=tree.root, spec=spec or residential_spec())
    point = org.create_vending_point(
        actor=admin, org_unit=tree.north_sc, name="Kitale Pay Office", channel="pay_office"
    )
    cashier = factories.user(tree.north_sc, Role.OPERATOR, (Capability.CASHIER,), username=None)
    supervisor = factories.user(
        tree.north,
        Role.VENDING_POINT_MANAGER,
        (Capability.CASHIER, Capability.FINANCE, Capability.CUSTOMER_CARE),
    )
    from gridvend.vending.shifts import open_shift

    open_shift(
        actor=cashier,
        vending_point=point,
        opening_float=Money.from_major("1000", tariff.currency),
        now=now,
    )
    return World(
        tree=tree,
        admin=admin,
        cashier=cashier,
        supervisor=supervisor,
        point=point,
        tariff=tariff,
        key_ref=key_ref,
        vending_key_hex=key_hex,
        clock=FixedClock(now),
    )


ZERO = Decimal(0)
