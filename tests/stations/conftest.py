"""Fixtures of the station tests: the stations' scene on the master (the shared world, a
vending-point manager of the north region and an offline-station vending point there), the
multi-process harness (tests/stations/processes.py), and
a second database for the station's side of down-sync tests: the master is the test database
(``default``), the station an SQLite database of its own (alias ``station``, in memory), built
by the same migrations as a real station install, so a pull is applied to another database
exactly as it is on a station's disk. Made once per session, only when a test asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.org.models import Channel, VendingPoint
from gridvend.stations.client import MasterClient
from gridvend.stations.services import signing
from tests import factories
from tests.stations.master_double import MasterDouble, served_to_station, stand_in_pull
from tests.stations.processes import Databases, Harness, harness
from tests.stations.station_world import CODE, StationSetUp, make_station
from tests.world import World, build_world

STATION = "station"


@pytest.fixture(scope="session")
def process_databases(tmp_path_factory: pytest.TempPathFactory) -> Databases:
    """The installs' databases: SQLite copies of one template; in the PostgreSQL pass the
    master's on PostgreSQL, in a database of its own beside the test's."""
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    url = os.environ.get("GRIDVEND_TEST_POSTGRES_URL", "") if on_postgres else ""
    return Databases(root=tmp_path_factory.mktemp("installs"), postgres_url=url)


@pytest.fixture
def processes(process_databases: Databases, tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path, process_databases) as made:
        yield made


@pytest.fixture(scope="session")
def station_database(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    from gridvend.audit import triggers

    config = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    configured = connections.configure_settings(
        {"default": dict(settings.DATABASES["default"]), STATION: config}
    )[STATION]
    settings.DATABASES[STATION] = configured
    connections.settings[STATION] = configured
    with django_db_blocker.unblock():
        connection = connections[STATION]
        old_name = connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False
        )
        # Test cases empty the station's tables between tests, which the append-only guards
        # would refuse; no test here reads the station's audit log.
        triggers.uninstall(connection)
    yield STATION
    with django_db_blocker.unblock():
        connections[STATION].creation.destroy_test_db(old_name, verbosity=0)
        connections[STATION].close()
    # connections.settings is settings.DATABASES itself once Django has configured it.
    connections.settings.pop(STATION, None)
    settings.DATABASES.pop(STATION, None)


@contextmanager
def installed_on(alias: str) -> Iterator[None]:
    """Run code as the install whose database is ``alias`` (a station's or relay's process has
    it as its default): the services' own reads and writes, without a second process."""
    master = connections[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = connections[alias]
    try:
        yield
    finally:
        connections[DEFAULT_DB_ALIAS] = master


@dataclass
class Scene:
    world: World
    manager: User  # vending-point manager of the north region
    auditor: User  # auditor of the north region (sees, changes nothing)
    south_manager: User
    point: VendingPoint  # offline-station point of the north service centre

    def point_of(self, unit: object) -> VendingPoint:
        return factories.vending_point(unit, channel=Channel.OFFLINE_STATION)  # type: ignore[arg-type]


@pytest.fixture
def scene() -> Iterator[Scene]:
    signing.forget()
    world = build_world()
    tree = world.tree
    yield Scene(
        world=world,
        manager=factories.user(tree.north, Role.VENDING_POINT_MANAGER),
        auditor=factories.user(tree.north, Role.OPERATOR, (Capability.AUDITOR,)),
        south_manager=factories.user(tree.south, Role.VENDING_POINT_MANAGER),
        point=factories.vending_point(tree.north_sc, channel=Channel.OFFLINE_STATION),
    )
    signing.forget()


# --- A station against the master double (master_double.py), for the station-side tests -----
# A test module overrides ``master_double`` for a double that answers more (KeyingDouble).


@pytest.fixture
def station_setup() -> StationSetUp:
    """This test database as the station ``CODE`` (a test module marks the database use)."""
    return make_station()


@pytest.fixture
def master_double(station_setup: StationSetUp) -> MasterDouble:
    return MasterDouble(
        station=CODE, station_public_hex=station_setup.key.public_hex, key=station_setup.master
    )


@pytest.fixture
def master_url(master_double: MasterDouble) -> Iterator[str]:
    """The double served on a loopback port, and the station's master URL pointing at it."""
    with served_to_station(master_double) as base:
        yield base


@pytest.fixture
def pull_stand_in(monkeypatch: pytest.MonkeyPatch) -> list[MasterClient]:
    return stand_in_pull(monkeypatch)
