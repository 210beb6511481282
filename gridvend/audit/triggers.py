"""Database triggers that keep the books' history append-only on PostgreSQL and SQLite.

They stop the application's own database user from editing history. They do not stop a user who
may drop or disable triggers (a superuser or the tables' owner); that is what the digests, the
hash chain and the signed checkpoints are for (docs/tamper-evidence.md).

On SQLite one trigger also does work: inserting an audit event moves its stream's head
(``_sqlite_writers``); it is installed, removed and checked with the guards.
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
    # A stream's end only moves forward, each step linked to the last; it is never deleted or
    # wound back.
    "audit_audithead": Guard(
        mutable=("seq", "prev_hash", "hash"),
        refuse_when=("NEW.seq <= OLD.seq", "NEW.prev_hash {ne} OLD.hash"),
    ),
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

# PostgreSQL trigger functions by name: the source between the dollar quotes, exactly as
# `pg_proc.prosrc` gives it back, so that `gridvend verify` can compare the two.
_PG_BODIES = {
    "gridvend_append_only": """
BEGIN
    RAISE EXCEPTION '% rows are append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
""",
    # The arguments name the columns that may change; every other column must stay as it was.
    "gridvend_frozen_columns": """
BEGIN
    IF (to_jsonb(NEW) - TG_ARGV) IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV) THEN
        RAISE EXCEPTION '% rows are append-only (UPDATE refused: only % may change)',
            TG_TABLE_NAME, array_to_string(TG_ARGV, ', ')
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
""",
}


def _transitions_function(table: str) -> str:
    return f"gridvend_{table}_transitions"


def _transitions_body(guard: Guard) -> str:
    # In a function rather than the trigger's WHEN clause: PostgreSQL gives a WHEN clause back
    # rewritten (casts, parentheses), but a function's source exactly as it was written.
    when = " OR ".join(f"({c.format(ne='IS DISTINCT FROM')})" for c in guard.refuse_when)
    return f"""
BEGIN
    IF {when} THEN
        RAISE EXCEPTION '% rows are append-only (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
"""


def _pg_function_sql(name: str, body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $${body}$$ LANGUAGE plpgsql"


@dataclass(frozen=True)
class _PgTrigger:
    name: str
    events: str  # in PostgreSQL's own order (INSERT, DELETE, UPDATE, TRUNCATE)
    level: str
    function: str
    arguments: str = ""

    def definition(self, table: str) -> str:
        """As `pg_get_triggerdef` writes it, with ``table`` as it should be qualified."""
        return (
            f"CREATE TRIGGER {self.name} BEFORE {self.events} ON {table} "
            f"FOR EACH {self.level} EXECUTE FUNCTION {self.function}({self.arguments})"
        )


def _pg_triggers(table: str, guard: Guard) -> list[_PgTrigger]:
    refuse = "gridvend_append_only"
    no_truncate = _PgTrigger(f"{table}_no_truncate", "TRUNCATE", "STATEMENT", refuse)
    if not guard.mutable:
        return [_PgTrigger(f"{table}_append_only", "DELETE OR UPDATE", "ROW", refuse), no_truncate]
    mutable = ", ".join(f"'{column}'" for column in guard.mutable)
    triggers = [
        no_truncate,
        _PgTrigger(f"{table}_no_delete", "DELETE", "ROW", refuse),
        _PgTrigger(f"{table}_frozen", "UPDATE", "ROW", "gridvend_frozen_columns", mutable),
    ]
    if guard.refuse_when:
        triggers.append(
            _PgTrigger(f"{table}_transitions", "UPDATE", "ROW", _transitions_function(table))
        )
    return triggers


def _pg_bodies(table: str, guard: Guard) -> dict[str, str]:
    """The source of every function the table's triggers run."""
    bodies = dict(_PG_BODIES)
    if guard.refuse_when:
        bodies[_transitions_function(table)] = _transitions_body(guard)
    return bodies


_ALL_NAMES = (
    "append_only",
    "no_truncate",
    "no_delete",
    "frozen",
    "transitions",
    "no_update",
    "advance_head",
)


def _sqlite_writers(table: str) -> dict[str, str]:
    """Triggers that do work rather than refuse it (SQLite only), by name: an audit event moves
    its stream's head in the statement that inserts it, because SQLite has no data-modifying
    WITH clause to do both in one statement as PostgreSQL does (gridvend.audit.services). They
    are installed, removed and checked with the guards."""
    if table != "audit_auditevent":
        return {}
    return {"audit_auditevent_advance_head": _ADVANCE_HEAD}


_ADVANCE_HEAD = (
    "CREATE TRIGGER audit_auditevent_advance_head AFTER INSERT ON audit_auditevent BEGIN "
    "UPDATE audit_audithead SET seq = NEW.seq, prev_hash = NEW.prev_hash, hash = NEW.hash "
    "WHERE id = NEW.stream; END"
)


def _postgresql(table: str, guard: Guard) -> list[str]:
    bodies = _pg_bodies(table, guard)
    functions = sorted({t.function for t in _pg_triggers(table, guard)})
    return [_pg_function_sql(name, bodies[name]) for name in functions] + [
        t.definition(table) for t in _pg_triggers(table, guard)
    ]


def _sqlite(connection: BaseDatabaseWrapper, table: str, guard: Guard) -> dict[str, str]:
    """Each trigger's statement by name, as SQLite keeps it in ``sqlite_master.sql``."""

    def refuse(name: str, event: str, message: str, when: str = "") -> tuple[str, str]:
        condition = f" WHEN {when}" if when else ""
        return f"{table}_{name}", (
            f"CREATE TRIGGER {table}_{name} BEFORE {event} ON {table}{condition} BEGIN "
            f"SELECT RAISE(ABORT, '{table} rows are append-only ({message})'); END"
        )

    no_delete = refuse("no_delete", "DELETE", "DELETE refused")
    if not guard.mutable:
        refusing = dict([refuse("no_update", "UPDATE", "UPDATE refused"), no_delete])
        return {**refusing, **_sqlite_writers(table)}
    # SQLite has no row-as-a-value; list the frozen columns as the table has them now. A later
    # migration that rebuilds the table drops its triggers, and one that adds a column leaves
    # the column unguarded; `gridvend verify` reports either until the triggers are reinstalled.
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
    changed = [f'NEW."{c}" IS NOT OLD."{c}"' for c in columns if c not in guard.mutable]
    changed += [f"({c.format(ne='IS NOT')})" for c in guard.refuse_when]
    refusing = dict([refuse("frozen", "UPDATE", "UPDATE refused", " OR ".join(changed)), no_delete])
    return {**refusing, **_sqlite_writers(table)}


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
            statements = [*_drops("postgresql", table), *_postgresql(table, guard)]
        else:
            sqlite = _sqlite(connection, table, guard)
            statements = [*_drops(connection.vendor, table), *sqlite.values()]
        _run(connection, statements)


def uninstall(
    connection: BaseDatabaseWrapper, tables: tuple[str, ...] = APPEND_ONLY_TABLES
) -> None:
    """Remove the triggers: only for schema maintenance and test-database teardown."""
    existing = set(connection.introspection.table_names())
    for table in tables:
        if table in existing or connection.vendor == "sqlite":
            _run(connection, _drops(connection.vendor, table))


# pg_trigger.tgenabled: "O" fires in normal sessions, "A" always; these two never in normal use.
PG_NOT_FIRING = {"D": "is disabled", "R": "fires only on replicas (disabled)"}


def pg_triggers(connection: BaseDatabaseWrapper) -> dict[tuple[str, str], tuple[str, ...]]:
    """Every user trigger in the schema, by (table, trigger): whether it fires (tgenabled), its
    definition, its table's qualified name, its function's name, language and source. Read by
    ``gridvend verify`` here and for the ledger's kept-balance trigger."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid), "
            "quote_ident(n.nspname) || '.' || quote_ident(c.relname), p.proname, l.lanname, "
            "p.prosrc FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "JOIN pg_language l ON l.oid = p.prolang "
            "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
        )
        return {(row[0], row[1]): tuple(row[2:]) for row in cursor.fetchall()}


def _pg_findings(connection: BaseDatabaseWrapper, tables: list[str]) -> list[str]:
    found = pg_triggers(connection)
    problems = []
    for table in tables:
        guard = GUARDS.get(table, Guard())
        bodies = _pg_bodies(table, guard)
        for trigger in _pg_triggers(table, guard):
            label = f"table {table}: trigger {trigger.name}"
            if (table, trigger.name) not in found:
                problems.append(f"{label} is missing (dropped)")
                continue
            enabled, definition, qualified, function, language, body = found[(table, trigger.name)]
            if enabled in PG_NOT_FIRING:
                problems.append(f"{label} {PG_NOT_FIRING[enabled]}")
            # The definition names the function as the session finds it: another schema's
            # function of the same name shows up qualified, and so differs.
            if definition != trigger.definition(qualified):
                problems.append(f"{label} differs from the one gridvend installs (replaced)")
            elif language != "plpgsql" or body != bodies[trigger.function]:
                problems.append(
                    f"{label} runs {function}(), whose body differs from the one gridvend "
                    "installs (replaced)"
                )
    return problems


def _sqlite_findings(connection: BaseDatabaseWrapper, tables: list[str]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger'")
        found = {(table, name): sql for table, name, sql in cursor.fetchall()}
    problems = []
    for table in tables:
        for name, sql in _sqlite(connection, table, GUARDS.get(table, Guard())).items():
            label = f"table {table}: trigger {name}"
            if (table, name) not in found:
                problems.append(f"{label} is missing (dropped)")
            elif found[(table, name)] != sql:
                problems.append(f"{label} differs from the one gridvend installs (replaced)")
    return problems


def findings(connection: BaseDatabaseWrapper) -> list[str]:
    """Every guard that is absent, disabled or not what `install` would create, as sentences
    (an empty list when all are in place). A trigger kept under its name but given another
    body, condition or function stops nothing; so each is compared whole."""
    existing = set(connection.introspection.table_names())
    tables = [table for table in GUARDS if table in existing]
    if connection.vendor == "postgresql":
        return _pg_findings(connection, tables)
    if connection.vendor == "sqlite":
        return _sqlite_findings(connection, tables)
    raise RuntimeError(f"append-only triggers are not written for {connection.vendor}")
