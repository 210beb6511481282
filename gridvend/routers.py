"""The database router: report reads go to a PostgreSQL streaming replica when one is configured
(GRIDVEND_REPLICA_DATABASE_URL, alias ``replica``); every write, and every other read, goes to
the default database (docs/scaling.md).

A report is read from the replica only inside :func:`report_reads` (``ReportSpec.run`` opens it):
the router cannot tell a report's query from a sale's, so the caller says so. A replica lags the
primary by a moment, which a report can bear and a sale cannot. A report read inside an open
transaction on the default database (a job or a snapshot that has written, or will) stays on the
default database: the replica has not seen that transaction's rows and may lag its reads.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

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


def _in_transaction_on_default() -> bool:
    """True inside an ``atomic`` block on the default database. The blocks a test case wraps
    around each test (Django marks them ``_from_testcase``) are not the code's own
    transactions: in production they do not exist."""
    blocks = connections[DEFAULT_DB_ALIAS].atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


class ReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str:
        if _reports.get() and replica_configured() and not _in_transaction_on_default():
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # The replica is a copy of the default database: its rows are the same rows.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # A replica takes its schema from the primary's WAL, never from `migrate`.
        return db != REPLICA
