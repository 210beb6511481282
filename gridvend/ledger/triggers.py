"""The database keeps the kept balances: a trigger on every posting adds its amount to its
account's balance when the account keeps one (floats, wallets), and refuses the posting when it
raises that balance above the account's limit. Installed by migration, checked by `gridvend
verify` the way the append-only guards are (``gridvend.audit.triggers``).

On PostgreSQL the trigger's UPDATE takes the account row's lock and, when another transaction
holds it, waits and then adds to the balance that transaction committed (READ COMMITTED
re-reads the row); so postings from any number of connections through one float are exact, and
the last one that fits is the last one allowed. Accounts that keep no balance (revenue, tax,
tills) are never written by a posting, so no two sales wait for each other on them.
"""

from __future__ import annotations

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from gridvend.audit.triggers import PG_NOT_FIRING, pg_triggers

TABLE = "ledger_posting"
TRIGGER = "ledger_posting_kept_balance"
PG_FUNCTION = "gridvend_kept_balance"
# The refusal's SQLSTATE on PostgreSQL: class GV is no standard class, so nothing but this
# trigger raises it (psycopg gives it as a plain DatabaseError). DETAIL carries the account code.
# Both it and the SQLite message are written out in the trigger sources below as well.
LIMIT_SQLSTATE = "GVB01"
# SQLite's RAISE takes a fixed message; the caller names the account itself.
SQLITE_LIMIT_MESSAGE = "ledger_posting refused: a kept balance would rise above its limit"

# The function's source between the dollar quotes, exactly as `pg_proc.prosrc` gives it back.
_PG_BODY = """
DECLARE
    kept record;
BEGIN
    UPDATE ledger_account SET balance_minor = balance_minor + NEW.amount_minor
        WHERE id = NEW.account_id AND balance_minor IS NOT NULL
        RETURNING code, balance_minor, limit_minor INTO kept;
    IF FOUND AND NEW.amount_minor > 0 AND kept.balance_minor > kept.limit_minor THEN
        RAISE EXCEPTION 'account % would stand at %, above its limit of %',
            kept.code, kept.balance_minor, kept.limit_minor
            USING ERRCODE = 'GVB01', DETAIL = kept.code;
    END IF;
    RETURN NULL;
END;
"""


def _pg_definition(table: str) -> str:
    """As `pg_get_triggerdef` writes it, with ``table`` as it should be qualified."""
    return (
        f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
    )


# As SQLite keeps it in ``sqlite_master.sql``. The UPDATE comes first: the new balance is then
# the one to compare, and ABORT undoes the whole INSERT statement, balances included.
_SQLITE = (
    "CREATE TRIGGER ledger_posting_kept_balance AFTER INSERT ON ledger_posting BEGIN "
    "UPDATE ledger_account SET balance_minor = balance_minor + NEW.amount_minor "
    "WHERE id = NEW.account_id AND balance_minor IS NOT NULL; "
    "SELECT RAISE(ABORT, 'ledger_posting refused: a kept balance would rise above its limit') "
    "FROM ledger_account "
    "WHERE id = NEW.account_id AND NEW.amount_minor > 0 AND balance_minor > limit_minor; END"
)


def _statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger AS $${_PG_BODY}$$ "
            "LANGUAGE plpgsql",
            f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}",
            _pg_definition(TABLE),
        ]
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {TRIGGER}", _SQLITE]
    raise RuntimeError(f"the kept-balance trigger is not written for {vendor}")


def install(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor):
            cursor.execute(sql)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Remove the trigger: only for schema maintenance (a migration run backwards)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
        else:
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")


def lift_for_migrations(using: str) -> None:
    """Before a migration run on SQLite: drop the trigger, whose body names ledger_account, so
    that Django can remake that table (SQLite refuses the rename otherwise)."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")


def restore_after_migrations(using: str) -> None:
    """After a migration run on SQLite: put the trigger back, once the schema has what it needs
    (not when the ledger was migrated back before kept balances)."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if TABLE not in tables or "ledger_account" not in tables:
            return
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, "ledger_account")
        }
    if "limit_minor" in columns:
        install(connection)


def limit_refusal(connection: BaseDatabaseWrapper, exc: DatabaseError) -> str | None:
    """When ``exc`` is this trigger's refusal: the account it names ("" on SQLite, whose
    message is fixed); otherwise None. Matched by SQLSTATE or exact message, nothing broader."""
    cause = exc.__cause__
    if connection.vendor == "postgresql":
        if getattr(cause, "sqlstate", None) != LIMIT_SQLSTATE:
            return None
        diag = getattr(cause, "diag", None)
        return str(getattr(diag, "message_detail", "") or "")
    if connection.vendor == "sqlite" and str(exc) == SQLITE_LIMIT_MESSAGE:
        return ""
    return None


def _pg_findings(connection: BaseDatabaseWrapper) -> list[str]:
    row = pg_triggers(connection).get((TABLE, TRIGGER))
    label = f"table {TABLE}: trigger {TRIGGER}"
    if row is None:
        return [f"{label} is missing (dropped)"]
    enabled, definition, qualified, function, language, body = row
    problems = []
    if enabled in PG_NOT_FIRING:
        problems.append(f"{label} {PG_NOT_FIRING[enabled]}")
    if definition != _pg_definition(qualified):
        problems.append(f"{label} differs from the one gridvend installs (replaced)")
    elif language != "plpgsql" or body != _PG_BODY:
        problems.append(
            f"{label} runs {function}(), whose body differs from the one gridvend installs "
            "(replaced)"
        )
    return problems


def _sqlite_findings(connection: BaseDatabaseWrapper) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s AND name = %s",
            [TABLE, TRIGGER],
        )
        row = cursor.fetchone()
    label = f"table {TABLE}: trigger {TRIGGER}"
    if row is None:
        return [f"{label} is missing (dropped)"]
    if row[0] != _SQLITE:
        return [f"{label} differs from the one gridvend installs (replaced)"]
    return []


def findings(connection: BaseDatabaseWrapper) -> list[str]:
    """Whether the trigger is absent, disabled or not what `install` creates, as sentences (an
    empty list when it is in place): without it kept balances stop moving and limits hold
    nothing, which reconciliation would only report afterwards."""
    if connection.vendor == "postgresql":
        return _pg_findings(connection)
    if connection.vendor == "sqlite":
        return _sqlite_findings(connection)
    raise RuntimeError(f"the kept-balance trigger is not written for {connection.vendor}")
