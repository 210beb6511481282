"""Shared test set-up: database pass selection, audit triggers around flushes, factories."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (see below)
import pytest

# Import hypothesis here, at a shallow stack: CPython 3.11.7's parser can fail with "AST constructor
# recursion depth mismatch" when pytest rewrites it lazily from deep inside a running test.

os.environ.setdefault("GRIDVEND_TESTING", "1")

POSTGRES_URL = os.environ.get("GRIDVEND_TEST_POSTGRES_URL", "")


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests run in the PostgreSQL pass; never silently skipped when it is set.
    Tests marked `long` are run first, so that in a parallel run no worker starts one near the
    end while the others have finished."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: order kept
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    on_postgres = engine.endswith("postgresql")
    if on_postgres:
        return
    keep, deselected = [], []
    for item in items:
        if item.get_closest_marker("postgres") is None:
            keep.append(item)
        elif POSTGRES_URL:
            deselected.append(item)  # the PostgreSQL pass runs it
        else:
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL: set GRIDVEND_TEST_POSTGRES_URL")
            )
            keep.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"gridvend database: {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}"


@pytest.fixture(autouse=True)
def _audit_triggers_around_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    """Transactional tests end with a flush, which the append-only triggers would refuse."""
    names = set(request.fixturenames)
    transactional = bool(names & {"transactional_db", "live_server"}) or (
        request.node.get_closest_marker("django_db") is not None
        and request.node.get_closest_marker("django_db").kwargs.get("transaction", False)
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")
    from django.db import connection

    from gridvend.audit import triggers

    triggers.install(connection)
    yield
    triggers.uninstall(connection)


@pytest.fixture(scope="session")
def _checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit-checkpoints")


@pytest.fixture(autouse=True)
def audit_checkpoint_file(_checkpoint_dir: Path) -> Iterator[Path]:
    """Each test signs audit checkpoints into a file of its own, never into the checkout's var/:
    a checkpoint of another test's database would read as tampering."""
    from django.test import override_settings

    path = _checkpoint_dir / f"{uuid.uuid4().hex}.jsonl"
    with override_settings(AUDIT_CHECKPOINT_FILE=path):
        yield path


@pytest.fixture(scope="session", autouse=True)
def _exports_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Export files are written under a directory of the run, never into the checkout's var/;
    for the whole session, as the shared world (built once) writes one per region."""
    from django.test import override_settings

    directory = tmp_path_factory.mktemp("exports")
    with override_settings(EXPORT_DIR=directory):
        yield directory


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """A request that switched language must not leak it into the next test's thread."""
    yield
    from django.utils import translation

    translation.deactivate()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A parallel worker (pytest-xdist) hands its hostile-walk counts to the main process."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from tests.foundation import test_hostile_walk

        workeroutput["hostile_walk"] = test_hostile_walk.STATS.as_dict()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The main process of a parallel run adds up the counts each worker walked."""
    counts = getattr(node, "workeroutput", {}).get("hostile_walk")
    if counts is not None:
        from tests.foundation import test_hostile_walk

        test_hostile_walk.STATS.add(counts)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The hostile walk's counts (URLs, parameters, values, requests) in the run's summary,
    once: from this process, or, in a parallel run, summed over the workers."""
    from tests.foundation import test_hostile_walk

    for line in test_hostile_walk.summary_lines():
        terminalreporter.write_line(line)
