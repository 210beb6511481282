"""Model instances from rows that hand-written SQL read, for the few statements on the vend path
that the ORM cannot say in one round trip or compiles too slowly to run on every sale.

The values go through the same converters the ORM applies (the backend's, then the field's), so
an instance built here is the instance a queryset would have built: dates are dates on SQLite,
JSON is decoded, booleans are booleans.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, Any], Any]


def database() -> BaseDatabaseWrapper:
    """The default database's connection object itself. ``django.db.connection`` is a proxy
    that looks the object up again (in a context-local store) on every attribute, and a sale
    touches it some fifty times: the vend path looks it up once per step instead."""
    return connections[DEFAULT_DB_ALIAS]


def cursor() -> Any:
    """A cursor for the statements every sale runs, each always the same text.

    On PostgreSQL it binds parameters on the server and has the server keep each statement
    planned (prepared on its first run in the connection): the sale's reads are a join and a
    statement of eight subqueries, which PostgreSQL would otherwise plan again on every sale,
    for longer than it takes to run them. Django's own cursors bind on the client and prepare
    nothing, which stays the setting for every other query. Elsewhere, Django's cursor. Either
    way the statements are logged as Django logs its own (query counts in tests see them).
    ``GRIDVEND_PREPARED_STATEMENTS=false`` turns preparing off (a pooler in transaction mode).
    """
    connection = database()
    if connection.vendor != "postgresql" or not settings.PREPARED_STATEMENTS:
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold != 0:
        # Django connects with automatic preparation off; these cursors want it from the first
        # run. Only server-binding cursors (this one) are ever prepared; at most prepared_max
        # statements are kept per connection, the least used dropped first.
        raw.prepare_threshold = 0
    connection.validate_thread_sharing()
    server = _server_cursor(raw)
    # Wrapped as Django wraps its own, so the statement is logged where queries are logged
    # (as its text: a prepared statement has no interpolated query to show).
    if connection.queries_logged:
        return _LoggedPrepared(server, connection)
    return connection.make_cursor(server)


class _LoggedPrepared(CursorDebugWrapper):
    def execute(self, sql: Any, params: Any = None) -> Any:
        # CursorWrapper's execute: Django's error translation (IntegrityError...) and hooks.
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def bulk_cursor() -> Any:
    """A cursor for the long multi-row statements of a batch (``insert_many`` and the like),
    whose text goes through :func:`bulk_sql`. On PostgreSQL it takes the server's own numbered
    placeholders (``$1``, ``$2``...): psycopg rewrites ``%s`` placeholders itself, and caches
    that only for statements under 4 KB, so for an INSERT of thousands of values the rewriting
    cost more than the INSERT. Elsewhere, :func:`cursor`."""
    connection = database()
    if connection.vendor != "postgresql":
        return cursor()
    import psycopg

    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw: Any = psycopg.RawCursor(connection.connection)
    if connection.queries_logged:
        return _LoggedPrepared(raw, connection)
    return connection.make_cursor(raw)


def bulk_sql(sql: str) -> str:
    """``sql`` (``%s`` placeholders, no other ``%``) as :func:`bulk_cursor` takes it."""
    if database().vendor != "postgresql":
        return sql
    if len(sql) > _NUMBERED_KEPT_UP_TO:
        return _numbered.__wrapped__(sql)
    return _numbered(sql)


# What the numbering keeps: the last few statement texts (a batch's full-size chunks come back
# batch after batch with the same text), none longer than this: at most about 8 MB in all.
_NUMBERED_KEPT_UP_TO = 512 * 1024


@lru_cache(maxsize=8)
def _numbered(sql: str) -> str:
    """``%s`` placeholders as ``$1``, ``$2``..."""
    parts = sql.split("%s")
    numbered = [parts[0]]
    for n, part in enumerate(parts[1:], start=1):
        numbered.append(f"${n}")
        numbered.append(part)
    return "".join(numbered)


def _server_cursor(raw: Any) -> Any:
    import psycopg

    return psycopg.Cursor(raw)


def columns(model: type[Model], alias: str) -> str:
    """Every concrete column of ``model`` under the table alias, in the order of its fields."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> tuple[tuple[Any, tuple[Converter, ...]], ...]:
    connection = database()
    found = []
    for field in model._meta.concrete_fields:
        expression = field.get_col(model._meta.db_table)
        chain = tuple(connection.ops.get_db_converters(expression)) + tuple(
            field.get_db_converters(connection)
        )
        found.append((expression, chain))
    return tuple(found)


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


def instance(model: type[M], values: Sequence[Any]) -> M:
    """An instance of ``model`` from the values of :func:`columns`, as the ORM would build it."""
    connection = database()
    converted = []
    for value, (expression, chain) in zip(
        values, _converters(model, connection.vendor), strict=True
    ):
        for convert in chain:
            value = convert(value, expression, connection)
        converted.append(value)
    return model.from_db(connection.alias, list(_attnames(model)), converted)


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


# Bounded: every row count is its own text (up to ``_CHUNK_ROWS`` rows of up to ~60 columns).
@lru_cache(maxsize=32)
def _insert_sql(model: type[Model], vendor: str, count: int) -> str:
    fields = _insert_fields(model)
    names = ", ".join(f'"{f.column}"' for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    values = ", ".join([row] * count)
    pk = model._meta.pk
    assert pk is not None
    return (
        f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES {values} '  # noqa: S608
        f'RETURNING "{pk.column}"'
    )


@cache
def _insert_fields(model: type[Model]) -> tuple[Any, ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


# Fields whose preparation for the database leaves a value of exactly this type as it is, or
# only wraps it in the backend's type for the column (PostgreSQL's integers): Django's own
# classes only, as a subclass may prepare differently. A foreign key counts as the field it
# points to.
_PLAIN: dict[type[Field[Any, Any]], type] = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.AutoField: int,
    models.BigAutoField: int,
}
_INTEGERS = (
    models.IntegerField,
    models.SmallIntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
)

# One inserted field: the field, its attribute, the type of value that skips the field's
# preparation (None: none does) and what that value is wrapped in (None: nothing).
_Step = tuple[Any, str, type | None, Callable[[Any], Any] | None]


@cache
def _insert_plan(model: type[Model], vendor: str) -> tuple[_Step, ...]:
    ops = database().ops
    plan: list[_Step] = []
    for field in _insert_fields(model):
        target = field.target_field if isinstance(field, models.ForeignKey) else field
        kind, wrap = _PLAIN.get(type(target)), None
        if type(target) in _INTEGERS:
            # What the backend makes of an int for this column, made the same way.
            made = ops.adapt_integerfield_value(1, target.get_internal_type())
            kind, wrap = int, None if type(made) is int else type(made)
        # A value filled in on save (auto_now) is never taken as it is.
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            kind = None
        plan.append((field, field.attname, kind, wrap))
    return tuple(plan)


def _params(objs: Sequence[Model], connection: BaseDatabaseWrapper) -> list[Any]:
    """The INSERT's values, as a save prepares them. Most of a sale's columns are a str or an
    int, for which the field's preparation only gives the same value back (or wraps it in the
    backend's integer type) and costs more than the rest of the row: those are taken, or
    wrapped, directly; every other value is prepared by its field."""
    params: list[Any] = []
    append = params.append
    for obj in objs:
        for field, attname, kind, wrap in _insert_plan(type(obj), connection.vendor):
            if kind is not None:
                value: Any = getattr(obj, attname)
                if value is None:
                    append(None)
                    continue
                if type(value) is kind:
                    append(value if wrap is None else wrap(value))
                    continue
            append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return params


def insert(objs: Sequence[Model], *, bulk: bool = False) -> None:
    """INSERT new instances of one model in one statement and give them their primary keys,
    as ``bulk_create`` does, for the rows every sale writes: the statement is built once per
    model and row count, and each value is prepared as a save prepares it (``_params``).
    No signals are sent (gridvend connects none to these models)."""
    if not objs:
        return
    model = type(objs[0])
    connection = database()
    params = _params(objs, connection)
    sql = _insert_sql(model, connection.vendor, len(objs))
    with bulk_cursor() if bulk else cursor() as db:
        db.execute(bulk_sql(sql) if bulk else sql, params)
        keys = db.fetchall()
    for obj, (pk,) in zip(objs, keys, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def max_params(connection: BaseDatabaseWrapper) -> int:
    """How many parameters one statement may bind: SQLite's limit as the linked library has it
    (Django assumes the old 999), PostgreSQL's wire protocol's 65,535."""
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        try:
            return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        except AttributeError:  # Python before 3.11
            return 999
    return int(connection.features.max_query_params or 65_535)


# Rows per statement at most, however narrow the row: the statement's text is cached per row
# count (``_insert_sql``), and longer statements than this gain nothing.
_CHUNK_ROWS = 1_000


def insert_many(objs: Sequence[Model]) -> None:
    """:func:`insert` for any number of instances of one model: as few statements as the
    database's parameter limit allows, in the order given (primary keys rise with it)."""
    if not objs:
        return
    connection = database()
    per_row = max(1, len(_insert_fields(type(objs[0]))))
    size = max(1, min(_CHUNK_ROWS, max_params(connection) // per_row))
    for first in range(0, len(objs), size):
        insert(objs[first : first + size], bulk=True)
