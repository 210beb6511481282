"""Database triggers that keep the books' history append-only on PostgreSQL and SQLite.

They stop the application's own database user from editing history. They do not stop a user who
may drop or disable triggers (a superuser or the tables' owner); that is what the digests, the
hash chain and the signed checkpoints are for (docs/tamper-evidence.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper


@dataclass(frozen=True)
class Guard:
    """How a table is guarded. With no ``mutable`` columns it is append-only: UPDATE, DELETE and
    TRUNCATE are refused. Otherwise an UPDATE may change only those columns, and not at all
    when one of ``refuse_when`` holds (SQL over OLD and NEW; ``{ne}`` is the vendor's null-safe
    "differs"); DELETE and TRUNCATE are still refused."""

    mutable: tuple[str, ...] = ()
    refuse_when: tuple[str, ...] = ()


GUARDS: dict[str, Guard] = {
    "audit_auditevent": Guard(),
    # The end of the chain only moves forward; it is never deleted or wound back.
    "audit_audithead": Guard(mutable=("seq", "hash"), refuse_when=("NEW.seq <= OLD.seq",)),
    "ledger_journalentry": Guard(),
    "ledger_posting": Guard(),
    "vending_token": Guard(),
    # A sale is reversed once and its first receipt print is stamped once; nothing else changes.
    "vending_sale": Guard(
        mutable=("status", "receipt_printed_at"),
        refuse_when=(
            "NEW.status {ne} OLD.status "
            "AND NOT (OLD.status = 'completed' AND NEW.status = 'reversed')",
            "OLD.receipt_printed_at IS NOT NULL "
            "AND NEW.receipt_printed_at {ne} OLD.receipt_printed_at",
        ),
    ),
}
# Every guarded table, in the order migrations create them.
APPEND_ONLY_TABLES = tuple(GUARDS)

_PG_FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION gridvend_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
""",
    # The arguments name the columns that may change; every other column must stay as it was.
    """
CREATE OR REPLACE FUNCTION gridvend_frozen_columns() RETURNS trigger AS $$
BEGIN
    IF (to_jsonb(NEW) - TG_ARGV) IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV) THEN
        RAISE EXCEPTION '% rows are append-only (UPDATE refused: only % may change)',
            TG_TABLE_NAME, array_to_string(TG_ARGV, ', ')
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
""",
]


def trigger_names(vendor: str, table: str) -> list[str]:
    """The triggers that guard ``table`` once installed (checked by `gridvend verify`)."""
    guard = GUARDS.get(table, Guard())
    if vendor == "postgresql":
        if not guard.mutable:
            return [f"{table}_append_only", f"{table}_no_truncate"]
        names = [f"{table}_no_delete", f"{table}_frozen", f"{table}_no_truncate"]
        return names + ([f"{table}_transitions"] if guard.refuse_when else [])
    if vendor == "sqlite":
        if not guard.mutable:
            return [f"{table}_no_update", f"{table}_no_delete"]
        return [f"{table}_frozen", f"{table}_no_delete"]
    raise RuntimeError(f"append-only triggers are not written for {vendor}")


_ALL_NAMES = ("append_only", "no_truncate", "no_delete", "frozen", "transitions", "no_update")


def _postgresql(table: str, guard: Guard) -> list[str]:
    run = "EXECUTE FUNCTION gridvend_append_only()"
    statements = [
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT {run}"
    ]
    if not guard.mutable:
        return [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW {run}",
            *statements,
        ]
    mutable = ", ".join(f"'{column}'" for column in guard.mutable)
    statements += [
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW {run}",
        f"CREATE TRIGGER {table}_frozen BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION gridvend_frozen_columns({mutable})",
    ]
    if guard.refuse_when:
        when = " OR ".join(f"({c.format(ne='IS DISTINCT FROM')})" for c in guard.refuse_when)
        statements.append(
            f"CREATE TRIGGER {table}_transitions BEFORE UPDATE ON {table} "
            f"FOR EACH ROW WHEN ({when}) {run}"
        )
    return statements


def _sqlite(connection: BaseDatabaseWrapper, table: str, guard: Guard) -> list[str]:
    def refuse(name: str, event: str, message: str, when: str = "") -> str:
        condition = f" WHEN {when}" if when else ""
        return (
            f"CREATE TRIGGER {table}_{name} BEFORE {event} ON {table}{condition} BEGIN "
            f"SELECT RAISE(ABORT, '{table} rows are append-only ({message})'); END"
        )

    no_delete = refuse("no_delete", "DELETE", "DELETE refused")
    if not guard.mutable:
        return [refuse("no_update", "UPDATE", "UPDATE refused"), no_delete]
    # SQLite has no row-as-a-value; list the frozen columns as the table has them now. A later
    # migration that rebuilds the table drops its triggers; `gridvend verify` reports that.
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
    changed = [f'NEW."{c}" IS NOT OLD."{c}"' for c in columns if c not in guard.mutable]
    changed += [f"({c.format(ne='IS NOT')})" for c in guard.refuse_when]
    return [refuse("frozen", "UPDATE", "UPDATE refused", " OR ".join(changed)), no_delete]


def _drops(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}" for name in _ALL_NAMES]
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_{name}" for name in _ALL_NAMES]
    raise RuntimeError(f"append-only triggers are not written for {vendor}")


def _run(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def install(connection: BaseDatabaseWrapper, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> None:
    existing = set(connection.introspection.table_names())
    for table in tables:
        if table not in existing:
            continue
        guard = GUARDS.get(table, Guard())
        if connection.vendor == "postgresql":
            statements = [*_PG_FUNCTIONS, *_drops("postgresql", table), *_postgresql(table, guard)]
        else:
            statements = [*_drops(connection.vendor, table), *_sqlite(connection, table, guard)]
        _run(connection, statements)


def uninstall(
    connection: BaseDatabaseWrapper, tables: tuple[str, ...] = APPEND_ONLY_TABLES
) -> None:
    """Remove the triggers: only for schema maintenance and test-database teardown."""
    existing = set(connection.introspection.table_names())
    for table in tables:
        if table in existing or connection.vendor == "sqlite":
            _run(connection, _drops(connection.vendor, table))


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """Guards that are absent or disabled, as sentences (an empty list when all are in place)."""
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())"
            )
            found = {(table, name): enabled != "D" for table, name, enabled in cursor.fetchall()}
        else:
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
            found = {(table, name): True for table, name in cursor.fetchall()}
    problems = []
    for table in GUARDS:
        if table not in existing:
            continue
        for name in trigger_names(connection.vendor, table):
            if (table, name) not in found:
                problems.append(f"table {table}: trigger {name} is missing (dropped)")
            elif not found[(table, name)]:
                problems.append(f"table {table}: trigger {name} is disabled")
    return problems
