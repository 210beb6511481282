"""Fixtures of the station tests: the multi-process harness (tests/stations/processes.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stations.processes import Databases, Harness, harness


@pytest.fixture(scope="session")
def process_databases(tmp_path_factory: pytest.TempPathFactory) -> Databases:
    """The installs' databases: SQLite copies of one template; in the PostgreSQL pass the
    master's on PostgreSQL, in a database of its own beside the test's."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    url = os.environ.get("GRIDVEND_TEST_POSTGRES_URL", "") if on_postgres else ""
    return Databases(root=tmp_path_factory.mktemp("installs"), postgres_url=url)


@pytest.fixture
def processes(process_databases: Databases, tmp_path: Path) -> Iterator[Harness]:
    with harness(tmp_path, process_databases) as made:
        yield made
