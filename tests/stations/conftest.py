"""Fixtures of the station tests: the multi-process harness (tests/stations/processes.py), and
a second database for the station's side of down-sync tests: the master is the test database
(``default``), the station an SQLite database of its own (alias ``station``, in memory), built
by the same migrations as a real station install, so a pull is applied to another database
exactly as it is on a station's disk. Made once per session, only when a test asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from tests.stations.processes import Databases, Harness, harness

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
