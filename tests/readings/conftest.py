"""The readings tests' scene: the shared world (tests/world.py) with a reading supervisor, a
second one, a meter reader and a south supervisor, and a north book holding two meters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.meters.models import Meter
from gridvend.readings import services
from gridvend.readings.models import MeterReading, ReadingBook
from tests import factories
from tests.world import World, build_world


@dataclass
class Scene:
    world: World
    supervisor: User  # reading supervisor in the north region
    second: User  # another reading supervisor in the north region
    reader: User  # meter reader in the north service centre
    south_supervisor: User
    book: ReadingBook  # north service centre, meters a then b
    a: Meter
    b: Meter
    south_meter: Meter
    start: datetime  # 200 days ago: day 0 of the tests' readings

    def at(self, day: float) -> datetime:
        return self.start + timedelta(days=day)

    def read(self, meter: Meter, day: float, value: str, by: User | None = None) -> MeterReading:
        return services.record_reading(
            actor=by or self.reader,
            meter=meter,
            register_kwh=Decimal(value),
            read_at=self.at(day),
        )


@pytest.fixture
def scene() -> Scene:
    world = build_world()
    tree = world.tree
    supervisor = factories.user(
        tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    second = factories.user(
        tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    reader = factories.user(tree.north_sc, Role.OPERATOR, (Capability.METER_READER,))
    south_supervisor = factories.user(
        tree.south, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    a = world.add_meter(name="Reading A")
    b = world.add_meter(name="Reading B")
    south_meter = world.add_meter(unit=tree.south_sc, name="Reading South")
    book = services.create_book(
        actor=supervisor, org_unit=tree.north_sc, code="n-01", name="North route 1", cycle_day=25,
        reader=reader,
    )  # fmt: skip
    services.add_book_meter(actor=supervisor, book=book, meter=a)
    services.add_book_meter(actor=supervisor, book=book, meter=b)
    start = (timezone.now() - timedelta(days=200)).replace(microsecond=0)
    return Scene(
        world, supervisor, second, reader, south_supervisor, book, a, b, south_meter, start
    )
