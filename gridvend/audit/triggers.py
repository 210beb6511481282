"""Database triggers that make audit rows append-only on PostgreSQL and SQLite."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_auditevent"

_PG_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION gridvend_audit_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}",
    f"""
    CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION gridvend_audit_append_only()
    """,
]
_PG_UNINSTALL = [f"DROP TRIGGER IF EXISTS audit_append_only ON {TABLE}"]

_SQLITE_INSTALL = [
    "DROP TRIGGER IF EXISTS audit_no_update",
    "DROP TRIGGER IF EXISTS audit_no_delete",
    f"""
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END
    """,
    f"""
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only (DELETE refused)'); END
    """,
]
_SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS audit_no_update",
    "DROP TRIGGER IF EXISTS audit_no_delete",
]


def _run(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def install(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "postgresql":
        _run(connection, _PG_INSTALL)
    elif connection.vendor == "sqlite":
        _run(connection, _SQLITE_INSTALL)
    else:  # pragma: no cover - only the two supported databases reach here
        raise RuntimeError(f"append-only audit triggers are not written for {connection.vendor}")


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Remove the triggers: only for schema maintenance and test-database teardown."""
    if connection.vendor == "postgresql":
        _run(connection, _PG_UNINSTALL)
    elif connection.vendor == "sqlite":
        _run(connection, _SQLITE_UNINSTALL)
