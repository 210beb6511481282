"""The master's change log for down-sync, kept by database triggers on PostgreSQL and SQLite.

Why triggers and not ``post_save`` signals: the rows a station needs are also written by bulk
``.update()`` calls that send no signal — a sale pays a debt down with one (``vending._sale``),
reversals, bill payments and key-change issues do the same — and a missed debt change would let
a station recover a debt twice. A trigger sees every write, whatever path made it, inside the
writer's transaction. It logs only the row's identity (model, id, organisation path), never its
values, so the row costs one small INSERT.

The meter's ``last_tid``, raised by a raw UPDATE on every sale, is deliberately not watched
(``UPDATE OF`` every other column): the station never relies on the master's last TID, since
it sells in its own TID lane (docs/stations.md), and the sale path stays free of a log write.
Neither are the login bookkeeping columns of a user (failed logins, lock-out, last login, the
last TOTP step): the station counts its own; nor a station row's contact and upload bookkeeping
(only a relay pulls station rows, for its own and the stations below it).

Cursor order: ``seq`` is given to log rows only once they are committed (:func:`assign_sequence`,
run by ``GET changes`` before it reads). On PostgreSQL an id taken at INSERT time could commit
after a larger one that a station has already read past, and the station would never see it.
Numbering instead happens in one statement that sees only committed rows, serialised by an
advisory lock, from a sequence that only grows: a row committed later is numbered later, above
every number a station can have read. On SQLite writers are serialised, so ids already follow
commit order and ``seq`` is the id.

A migration that adds a column to a watched table must call :func:`install` again (its
``UPDATE OF`` list names the columns at install time). On SQLite a migration that rebuilds a
watched table (most column changes do) must call :func:`uninstall` first: a trigger whose SQL
names the table being rebuilt (the path lookups join ``org_orgunit``, ``stations_station`` ...)
makes SQLite refuse the rebuild's rename.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper

LOG_TABLE = "stations_syncchange"
# pg_advisory_xact_lock key of the numbering step ("gvsync" in ASCII).
SEQUENCE_LOCK = 0x677673796E63
PG_SEQUENCE = "stations_syncchange_seq_numbers"


def _unit_path(column: str) -> str:
    # Every name in these statements is a constant of this module, none comes from input.
    return f"(SELECT o.path FROM org_orgunit o WHERE o.id = {{r}}.{column})"  # noqa: S608


_CUSTOMER_PATH = (
    "(SELECT o.path FROM org_orgunit o JOIN customers_customer c ON c.org_unit_id = o.id "
    "WHERE c.id = {r}.customer_id)"
)


@dataclass(frozen=True)
class Watched:
    label: str  # the model label as the wire names it ("meters.meter")
    table: str
    # SQL giving the row's organisation path; ``{r}`` is NEW or OLD.
    path: str
    # Columns whose update alone is not a change a station needs.
    unwatched: tuple[str, ...] = ()
    # The id logged (``{r}`` as above): the row's own, or that of the row a computed label is
    # built for (a sale logs its customer's month row).
    object_id: str = "{r}.id"
    # Only these columns' updates are changes (None: every column but ``unwatched``); a row
    # is logged only when ``when`` holds, and a deletion only when ``deletes``.
    columns: tuple[str, ...] | None = None
    when: str = ""
    deletes: bool = True


WATCHED: tuple[Watched, ...] = (
    Watched("org.orglevel", "org_orglevel", "''"),
    Watched("org.orgunit", "org_orgunit", "{r}.path"),
    Watched("org.vendingpoint", "org_vendingpoint", _unit_path("org_unit_id")),
    Watched(
        "identity.user",
        "identity_user",
        _unit_path("org_unit_id"),
        unwatched=("last_login", "failed_logins", "locked_until", "totp_last_step"),
    ),
    Watched(
        "identity.capabilitygrant",
        "identity_capabilitygrant",
        "(SELECT o.path FROM org_orgunit o JOIN identity_user u ON u.org_unit_id = o.id "
        "WHERE u.id = {r}.user_id)",
    ),
    Watched("tariffs.tariff", "tariffs_tariff", _unit_path("org_unit_id")),
    Watched(
        "tariffs.tariffversion",
        "tariffs_tariffversion",
        "(SELECT o.path FROM org_orgunit o JOIN tariffs_tariff t ON t.org_unit_id = o.id "
        "WHERE t.id = {r}.tariff_id)",
    ),
    Watched("customers.customer", "customers_customer", _unit_path("org_unit_id")),
    Watched("customers.premise", "customers_premise", _unit_path("org_unit_id")),
    Watched("meters.meter", "meters_meter", _unit_path("org_unit_id"), unwatched=("last_tid",)),
    Watched(
        "meters.keychange",
        "meters_keychange",
        "(SELECT o.path FROM org_orgunit o JOIN meters_meter m ON m.org_unit_id = o.id "
        "WHERE m.id = {r}.meter_id)",
    ),
    Watched(
        "customers.debt",
        "customers_debt",
        "(SELECT o.path FROM org_orgunit o JOIN customers_customer c ON c.org_unit_id = o.id "
        "WHERE c.id = {r}.customer_id)",
    ),
    # What a relay holds of the stations below it (their keys, status, parent, journal position)
    # and their allowances. A contact, an upload and the enrolment's bookkeeping are not changes
    # a relay needs: every GET status and batch would add a log row.
    Watched(
        "stations.station",
        "stations_station",
        _unit_path("org_unit_id"),
        unwatched=(
            "last_contact_at",
            "last_upload_at",
            "unsynced_since",
            "sold_total_minor",
            "enrol_code_hash",
            "enrol_code_expires_at",
            "enrol_failures",
            "app_version",
        ),
    ),
    Watched(
        "stations.stationallowance",
        "stations_stationallowance",
        "(SELECT o.path FROM org_orgunit o JOIN stations_station s ON s.org_unit_id = o.id "
        "WHERE s.id = {r}.station_id)",
    ),
    # A customer's month totals (docs/stations.md, "Month totals"): the master computes the
    # row from its sales when it serves it, so its sales log the customer's id (a sale, an
    # applied offline sale, a reversal or a status change). On a relay, the rows it pulled and
    # passes down. Sales are never deleted.
    Watched(
        "vending.customermonth",
        "vending_sale",
        _CUSTOMER_PATH,
        object_id="{r}.customer_id",
        columns=("status",),
        when="{r}.customer_id IS NOT NULL",
        deletes=False,
    ),
    Watched(
        "vending.customermonth",
        "vending_customermonth",
        _CUSTOMER_PATH,
        object_id="{r}.customer_id",
    ),
)


def _columns(connection: BaseDatabaseWrapper, table: str) -> list[str]:
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, table)
    return [column.name for column in description]


def _names(table: str) -> tuple[str, str]:
    return f"gridvend_sync_{table}", f"gridvend_sync_{table}_fn"


def _watched_columns(connection: BaseDatabaseWrapper, spec: Watched) -> str:
    columns = spec.columns
    if columns is None:
        columns = tuple(c for c in _columns(connection, spec.table) if c not in spec.unwatched)
    return ", ".join(connection.ops.quote_name(c) for c in columns)


def _pg_sql(connection: BaseDatabaseWrapper, spec: Watched) -> list[str]:
    trigger, function = _names(spec.table)
    new_path = f"COALESCE({spec.path.format(r='NEW')}, '')"
    old_path = f"COALESCE({spec.path.format(r='OLD')}, '')"
    new_id, old_id = spec.object_id.format(r="NEW"), spec.object_id.format(r="OLD")
    insert = f"INSERT INTO {LOG_TABLE} (model, object_id, path, deleted) VALUES "  # noqa: S608
    body = f"""
BEGIN
    IF TG_OP = 'DELETE' THEN
        {insert}('{spec.label}', {old_id}, {old_path}, true);
        RETURN OLD;
    END IF;
    {insert}('{spec.label}', {new_id}, {new_path}, false);
    IF TG_OP = 'UPDATE' AND {old_path} IS DISTINCT FROM {new_path} THEN
        {insert}('{spec.label}', {old_id}, {old_path}, false);
    END IF;
    RETURN NEW;
END;
"""
    events = "INSERT OR DELETE OR UPDATE" if spec.deletes else "INSERT OR UPDATE"
    when = f"WHEN ({spec.when.format(r='NEW')}) " if spec.when else ""
    return [
        f"DROP TRIGGER IF EXISTS {trigger} ON {spec.table}",
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$",
        f"CREATE TRIGGER {trigger} AFTER {events} OF {_watched_columns(connection, spec)} "
        f"ON {spec.table} FOR EACH ROW {when}EXECUTE FUNCTION {function}()",
    ]


def _sqlite_sql(connection: BaseDatabaseWrapper, spec: Watched) -> list[str]:
    trigger, _ = _names(spec.table)
    new_path = f"COALESCE({spec.path.format(r='NEW')}, '')"
    old_path = f"COALESCE({spec.path.format(r='OLD')}, '')"
    new_id, old_id = spec.object_id.format(r="NEW"), spec.object_id.format(r="OLD")
    insert = f"INSERT INTO {LOG_TABLE} (model, object_id, path, deleted)"
    watched = _watched_columns(connection, spec)
    when = f"WHEN {spec.when.format(r='NEW')} " if spec.when else ""
    statements = [
        f"DROP TRIGGER IF EXISTS {trigger}_ins",
        f"DROP TRIGGER IF EXISTS {trigger}_upd",
        f"DROP TRIGGER IF EXISTS {trigger}_del",
        f"CREATE TRIGGER {trigger}_ins AFTER INSERT ON {spec.table} {when}BEGIN "  # noqa: S608
        f"{insert} VALUES ('{spec.label}', {new_id}, {new_path}, 0); END",
        f"CREATE TRIGGER {trigger}_upd AFTER UPDATE OF {watched} ON {spec.table} {when}BEGIN "
        f"{insert} VALUES ('{spec.label}', {new_id}, {new_path}, 0); "
        f"{insert} SELECT '{spec.label}', {old_id}, {old_path}, 0 "
        f"WHERE {old_path} IS NOT {new_path}; END",
    ]
    if spec.deletes:
        statements.append(
            f"CREATE TRIGGER {trigger}_del AFTER DELETE ON {spec.table} BEGIN "
            f"{insert} VALUES ('{spec.label}', {old_id}, {old_path}, 1); END"
        )
    return statements


def install(connection: BaseDatabaseWrapper, *, only: Collection[str] | None = None) -> None:
    """Create (or re-create) the log's triggers on every watched table (or on those of the
    labels ``only``: a migration installs the tables watched when it was written)."""
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {PG_SEQUENCE}")
        for spec in WATCHED:
            if only is not None and spec.label not in only:
                continue
            statements = (
                _pg_sql(connection, spec)
                if vendor == "postgresql"
                else _sqlite_sql(connection, spec)
            )
            for statement in statements:
                cursor.execute(statement)


def drop_sql(connection: BaseDatabaseWrapper, spec: Watched) -> list[str]:
    """The statements that drop one watched table's triggers."""
    trigger, function = _names(spec.table)
    if connection.vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {trigger} ON {spec.table}",
            f"DROP FUNCTION IF EXISTS {function}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {trigger}{suffix}" for suffix in ("_ins", "_upd", "_del")]


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Drop the log's triggers (a table an earlier migration state has not made yet is
    skipped: there is nothing to drop)."""
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        for spec in WATCHED:
            if spec.table in tables:
                for statement in drop_sql(connection, spec):
                    cursor.execute(statement)


def assign_sequence(connection: BaseDatabaseWrapper) -> None:
    """Number the committed log rows not numbered yet (the caller holds a transaction)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCE_LOCK])
            # This statement's snapshot (taken after the lock) sees only committed rows; one
            # still being written is numbered by a later call, above every number given now.
            cursor.execute(
                f"UPDATE {LOG_TABLE} SET seq = nextval('{PG_SEQUENCE}') WHERE seq IS NULL"  # noqa: S608
            )
        else:
            cursor.execute(f"UPDATE {LOG_TABLE} SET seq = id WHERE seq IS NULL")  # noqa: S608
