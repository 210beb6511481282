"""Database triggers that make the books' history tables append-only on PostgreSQL and SQLite."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

# Tables whose rows are never updated or deleted once written.
APPEND_ONLY_TABLES = ("audit_auditevent", "ledger_journalentry", "ledger_posting")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION gridvend_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _statements(vendor: str, table: str, install: bool) -> list[str]:
    if vendor == "postgresql":
        drop = f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"
        if not install:
            return [drop]
        return [
            _PG_FUNCTION,
            drop,
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION gridvend_append_only()",
        ]
    if vendor == "sqlite":
        drops = [
            f"DROP TRIGGER IF EXISTS {table}_no_update",
            f"DROP TRIGGER IF EXISTS {table}_no_delete",
        ]
        if not install:
            return drops
        return [
            *drops,
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, '{table} rows are append-only (UPDATE refused)'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, '{table} rows are append-only (DELETE refused)'); END",
        ]
    raise RuntimeError(f"append-only triggers are not written for {vendor}")


def _run(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def install(connection: BaseDatabaseWrapper, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> None:
    for table in tables:
        if table in connection.introspection.table_names():
            _run(connection, _statements(connection.vendor, table, install=True))


def uninstall(
    connection: BaseDatabaseWrapper, tables: tuple[str, ...] = APPEND_ONLY_TABLES
) -> None:
    """Remove the triggers: only for schema maintenance and test-database teardown."""
    for table in tables:
        _run(connection, _statements(connection.vendor, table, install=False))
