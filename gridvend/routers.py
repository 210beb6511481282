"""The database router: report reads go to a PostgreSQL streaming replica when one is configured
(GRIDVEND_REPLICA_DATABASE_URL, alias ``replica``); every write, and every other read, goes to
the default database (docs/scaling.md).

A report is read from the replica only inside :func:`report_reads` (``ReportSpec.run`` opens it):
the router cannot tell a report's query from a sale's, so the caller says so. A replica lags the
primary by a moment, which a report can bear and a sale cannot.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

REPLICA = "replica"
_reports: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gridvend_report_reads", default=False
)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def report_reads() -> Iterator[None]:
    """Reads inside go to the replica when there is one."""
    token = _reports.set(True)
    try:
        yield
    finally:
        _reports.reset(token)


class ReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str:
        if _reports.get() and replica_configured():
            return REPLICA
        return "default"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # The replica is a copy of the default database: its rows are the same rows.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # A replica takes its schema from the primary's WAL, never from `migrate`.
        return db != REPLICA
