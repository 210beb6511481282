"""The billing tests' scene: the shared world on the residential tariff with a late-payment rule,
two finance people of the north, a north book with two postpaid meters read last month, a
prepaid-only account and a south postpaid account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from gridvend.billing import services
from gridvend.billing.models import BillingRun
from gridvend.customers import services as customers
from gridvend.customers.models import AccountKind, Customer
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import business_date, day_bounds_utc
from gridvend.meters.models import Meter
from gridvend.readings import services as readings
from gridvend.readings.models import MeterReading, ReadingBook
from gridvend.tariffs.examples import residential_spec
from tests import factories
from tests.world import World, build_world

LATE_RULE = {"rate": "0.02", "fixed_minor": 5000, "grace_days": 5}


@dataclass
class Scene:
    world: World
    finance: User
    checker: User
    reader: User
    book: ReadingBook
    a: Meter
    b: Meter
    prepaid: Meter
    south: Meter
    start: date  # the billing period: last month's whole cycle
    end: date

    def customer(self, meter: Meter) -> Customer:
        assert meter.customer is not None
        return meter.customer

    def at(self, day: date, hour: int = 10) -> datetime:
        return day_bounds_utc(day, settings.TIME_ZONE)[0] + timedelta(hours=hour)

    def read(self, meter: Meter, day: date, value: str) -> None:
        readings.record_reading(
            actor=self.reader, meter=meter, register_kwh=Decimal(value), read_at=self.at(day)
        )

    def post(self, run: BillingRun) -> BillingRun:
        decision = services.request_posting(actor=self.finance, run=run)
        return services.approve_run_decision(actor=self.checker, decision=decision)

    def estimated(
        self, name: str, reads: tuple[str, str, str], kind: str = AccountKind.POSTPAID
    ) -> tuple[Meter, MeterReading, BillingRun]:
        """A meter of the book read three times a month apart, then not at all in the cycle
        before this period: estimated, and that cycle's run posted. Returns the meter, the
        estimated reading and the posted run of the estimate."""
        from gridvend.readings.estimates import estimate_book

        world = self.world
        supervisor = factories.user(
            world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
        )
        meter = world.add_meter(name=name)
        customers.update_customer(
            actor=world.admin, customer=world.customer(meter), account_kind=kind
        )
        meter.refresh_from_db()
        readings.add_book_meter(actor=supervisor, book=self.book, meter=meter)
        for days, value in zip((95, 65, 35), reads, strict=True):
            self.read(meter, self.start - timedelta(days=days), value)
        previous_end = self.start - timedelta(days=1)
        done = estimate_book(actor=supervisor, book=self.book, on=previous_end)
        [estimate] = [e for e in done.estimated if e.meter_id == meter.pk]
        first = services.preview_run(
            actor=self.finance,
            book=self.book,
            period_start=previous_end - timedelta(days=29),
            period_end=previous_end,
        )
        return meter, estimate, self.post(first)

    def billed(self) -> BillingRun:
        return self.post(
            services.preview_run(
                actor=self.finance, book=self.book, period_start=self.start, period_end=self.end
            )
        )


@pytest.fixture
def scene() -> Scene:
    world = build_world(spec=residential_spec(late_payment=LATE_RULE))
    tree = world.tree
    finance = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    checker = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    supervisor = factories.user(
        tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    reader = factories.user(tree.north_sc, Role.OPERATOR, (Capability.METER_READER,))
    a = world.add_meter(name="Postpaid A")
    b = world.add_meter(name="Postpaid B")
    prepaid = world.add_meter(name="Prepaid only")
    south = world.add_meter(unit=tree.south_sc, name="Postpaid South")
    for meter, kind in (
        (a, AccountKind.POSTPAID),
        (b, AccountKind.BOTH),
        (south, AccountKind.POSTPAID),
    ):
        customers.update_customer(
            actor=world.admin, customer=world.customer(meter), account_kind=kind
        )
        meter.refresh_from_db()
    book = readings.create_book(
        actor=supervisor, org_unit=tree.north_sc, code="bill-01", name="Billing route",
        cycle_day=1, reader=reader,
    )  # fmt: skip
    for meter in (a, b, prepaid):
        readings.add_book_meter(actor=supervisor, book=book, meter=meter)
    today = business_date(timezone.now(), settings.TIME_ZONE)
    start, end = services.default_period(book, today)
    scene = Scene(world, finance, checker, reader, book, a, b, prepaid, south, start, end)
    # A: 1,000 kWh before the period, 1,200 in it (200 kWh used); B: 470, 500 then 530.
    scene.read(a, start - timedelta(days=3), "1000")
    scene.read(a, end - timedelta(days=2), "1200")
    scene.read(b, start - timedelta(days=33), "470")
    scene.read(b, start - timedelta(days=3), "500")
    scene.read(b, end - timedelta(days=2), "530")
    scene.read(prepaid, end - timedelta(days=2), "77")
    return scene
