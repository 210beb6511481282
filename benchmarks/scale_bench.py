"""National scale: bulk-load a utility's worth of customers, meters and sales into a throwaway
PostgreSQL database, then time the product's own pages on it (searches, lists, detail pages, the
Z report, the operation log) and the sale rate while a customer export runs.

    .venv/bin/python benchmarks/scale_bench.py [--customers 1000000] [--sales 5000000] [--small]
        [--database-url URL] [--keep] [--reuse] [--repeat 5] [--sell-seconds 10]

Without ``--database-url`` the data goes into database ``scale_bench`` created next to
GRIDVEND_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped
at the end unless ``--keep``; ``--reuse`` keeps it and skips loading when it already holds the
data, so repeated timing runs are cheap. ``--small`` also loads a small data set
(``--small-customers``, ``--small-sales``; database ``scale_bench_small``) and prints its figures
beside the big one's.

Loading: the organisation tree (1 data centre > 4 regions > 16 business units > 64 service
centres), the users, a tariff, one pay office per service centre and a few real sales are made
through the services; then COPY writes N customers, premises and meters and M sales with their
tokens, journal entries, postings and audit rows. Every bulk row is a copy of what a real sale
of the same tender wrote (same postings, same audit event shape), spread over the service
centres, their pay offices, one closed shift per point and day, and two years of dates; names
are Latin (Kenyan, Nigerian), Arabic and Chinese, phones E.164. Triggers are off for the loading
session (``session_replication_role = replica``: no foreign-key checks, no append-only guards),
so the loader keeps keys valid itself; the audit rows are chained per stream with the product's
own hashes and the stream heads moved to their ends, so ``gridvend verify`` holds on the result.
Columns a model has beyond what the loader knows get their default, then any back-fill the
product declares (``BACKFILLS``) is run, then ANALYZE.

Timings are through the product's URLs with Django's test client signed in as real users
(cashier, business-unit manager, administrator), median of ``--repeat`` after one warm-up, so they
measure whatever the views do. The sale rate is ``vend_credit`` called in a loop for
``--sell-seconds``, alone and then while another process downloads the customer CSV export (or
runs the queued export job if the export has become one). Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BIG_DATABASE = "scale_bench"
SMALL_DATABASE = "scale_bench_small"
REGIONS, UNITS_PER_REGION, CENTRES_PER_UNIT = 4, 4, 4
DAYS = 730  # two years of sales
TENDERS = ("100", "200", "500", "1000", "2000")
# Back-fills of columns the product maintains on write, tried in order after loading (a dotted
# path to a function taking no arguments); a missing one is skipped.
BACKFILLS = (
    "gridvend.customers.search.backfill",
    "gridvend.customers.services.backfill_search",
    "gridvend.customers.selectors.backfill_search",
)

KENYAN_FIRST = (
    "Wanjiru",
    "Achieng",
    "Kamau",
    "Otieno",
    "Njeri",
    "Mwangi",
    "Chebet",
    "Kiprop",
    "Akinyi",
    "Wafula",
    "Muthoni",
    "Omondi",
    "Jepkoech",
    "Kariuki",
    "Nyambura",
)
KENYAN_LAST = (
    "Mutua",
    "Odhiambo",
    "Kiplagat",
    "Wambui",
    "Ochieng",
    "Githinji",
    "Koech",
    "Njoroge",
    "Barasa",
    "Kimani",
    "Atieno",
    "Macharia",
    "Rotich",
    "Onyango",
)
NIGERIAN_FIRST = (
    "Chinedu",
    "Oluwaseun",
    "Ngozi",
    "Emeka",
    "Aisha",
    "Babatunde",
    "Funmilayo",
    "Ifeanyi",
    "Yetunde",
    "Obinna",
    "Zainab",
    "Adebayo",
)
NIGERIAN_LAST = (
    "Okafor",
    "Adeyemi",
    "Balogun",
    "Eze",
    "Okonkwo",
    "Abubakar",
    "Olawale",
    "Nwosu",
    "Ogunleye",
    "Danjuma",
    "Afolabi",
)
ARABIC_FIRST = (
    "محمد",
    "فاطمة",
    "أحمد",
    "عائشة",
    "علي",
    "مريم",
    "حسن",
    "خديجة",
    "يوسف",
    "زينب",
    "عمر",
    "ليلى",
)
ARABIC_LAST = (
    "العلي",
    "الحسن",
    "الشامي",
    "المصري",
    "القحطاني",
    "الزهراني",
    "حداد",
    "سليمان",
    "النجار",
    "الخطيب",
)
CHINESE_SURNAME = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙")
CHINESE_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟")


# --- the parent: databases, one worker process per data set, the table ---------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def _run_worker(
    url: str, *, customers: int, sales: int, args: argparse.Namespace
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        url,
        "--customers",
        str(customers),
        "--sales",
        str(sales),
        "--repeat",
        str(args.repeat),
        "--sell-seconds",
        str(args.sell_seconds),
    ]
    if args.reuse:
        command.append("--reuse")
    if args.whole_export:
        command.append("--whole-export")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
    env.update({"GRIDVEND_DATABASE_URL": url, "GRIDVEND_DEMO": "1", "GRIDVEND_LOG_LEVEL": "ERROR"})
    # Progress goes to stderr as it happens; the figures come back as JSON on stdout's last line.
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout)
        raise SystemExit(f"benchmark worker failed for {url}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=_count, default=1_000_000, help="customers (meters)")
    parser.add_argument("--sales", type=_count, default=5_000_000, help="bulk-loaded sales")
    parser.add_argument("--database-url", help="load into this (empty) database; never dropped")
    parser.add_argument("--keep", action="store_true", help="do not drop scale_bench at the end")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database and skip loading if it is there"
    )
    parser.add_argument("--small", action="store_true", help="also time a small data set")
    parser.add_argument("--small-customers", type=_count, default=2_000)
    parser.add_argument("--small-sales", type=_count, default=10_000)
    parser.add_argument("--repeat", type=_count, default=5, help="timed requests per page")
    parser.add_argument("--sell-seconds", type=float, default=10.0, help="per sale-rate run")
    parser.add_argument(
        "--whole-export",
        action="store_true",
        help="wait for the export to finish (by default it is stopped after the selling window)",
    )
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args)
        print(json.dumps(result))
        return

    admin_url = os.environ.get("GRIDVEND_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    keep = args.keep or args.reuse
    results: list[dict[str, Any]] = []
    plans = []
    if args.small:
        plans.append((SMALL_DATABASE, args.small_customers, args.small_sales))
    plans.append((BIG_DATABASE, args.customers, args.sales))
    for name, customers, sales in plans:
        if args.database_url and name == BIG_DATABASE:
            print(f"loading into {args.database_url}", file=sys.stderr)
            results.append(
                _run_worker(args.database_url, customers=customers, sales=sales, args=args)
            )
            continue
        with _admin(admin_url) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists and not args.reuse:
                admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            if not exists or not args.reuse:
                admin.execute(f"CREATE DATABASE {name}")
        try:
            url = _with_database(admin_url, name)
            print(f"database {name} next to {admin_url}", file=sys.stderr)
            results.append(_run_worker(url, customers=customers, sales=sales, args=args))
        finally:
            if not keep:
                with _admin(admin_url) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _print(results)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a whole number") from None
    if not 1 <= value <= 100_000_000:
        raise argparse.ArgumentTypeError("between 1 and 100,000,000")
    return value


def _print(results: list[dict[str, Any]]) -> None:
    load = os.getloadavg()[0]
    print(f"\n{os.cpu_count()} CPUs, load average {load:.1f}; ms are medians of the timed requests")
    for r in results:
        print(
            f"{r['label']}: {r['customers']:,} customers, {r['sales']:,} sales, "
            f"{r['tokens']:,} tokens, {r['audit']:,} audit rows; loaded in "
            f"{r['load_seconds']:.0f} s"
            + (" (reused)" if r["reused"] else "")
            + "".join(f"\n  {t:<24} {s:>8.1f} s" for t, s in r["load_tables"])
        )
    header = f"\n{'page':<42} {'as':<9}"
    for r in results:
        header += f" {r['label'] + ' ms':>14} {'queries':>8} {'HTTP':>5}"
    print(header)
    names = [t["name"] for t in results[-1]["timings"]]
    for name in names:
        rows = [next((t for t in r["timings"] if t["name"] == name), None) for r in results]
        first = next(t for t in rows if t)
        line = f"{name:<42} {first['user']:<9}"
        for t in rows:
            if t is None or t["ms"] is None:
                line += f" {'n/a':>14} {'':>8} {'':>5}"
            else:
                line += f" {t['ms']:>14.1f} {t['queries']:>8} {t['status']:>5}"
        print(line)
    print(
        f"\n{'selling':<42} {'':<9}" + "".join(f" {r['label'] + ' sales/s':>29}" for r in results)
    )
    for key, text in (("alone", "vend_credit alone"), ("with_export", "while the CSV export runs")):
        print(f"{text:<42} {'cashier':<9}" + "".join(f" {r['sell'][key]:>29.1f}" for r in results))
    print(
        f"{'kept':<52}"
        + "".join(f" {r['sell']['with_export'] / r['sell']['alone']:>28.0%}" for r in results)
    )
    for r in results:
        e = r["export"]
        print(
            f"{r['label']} export: HTTP {e['status']}, {e['rows']:,} rows in {e['seconds']:.1f} s"
            f" ({e['how']})"
        )
    print(
        "\nlast page: the page a 'last'/'»' link leads to, else the highest page number the first "
        "page shows (Page n of N, ?page=N).\nSearch results are the cashier's (a service centre); "
        "lists are the administrator's (the whole tree); the Z report is the busiest shift's,\n"
        "read by the business-unit manager. Selling: vend_credit in a loop at the cashier's pay "
        "office, alone and while another process exports every customer as CSV."
    )


# --- the worker: load (or reuse) one data set, then time it -------------------------------------


def worker(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")
    django.setup()
    from django.core.management import call_command

    from gridvend.customers.models import Customer

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    reused = args.reuse and Customer.objects.count() >= args.customers
    tables: list[tuple[str, float]] = []
    if not reused:
        if Customer.objects.exists():
            raise SystemExit("the database already holds customers: give an empty one")
        from django.test.utils import override_settings

        # The bench's users only ever sign in with force_login: their throwaway passwords are
        # hashed with MD5 (as the tests' are), which saves the minute Argon2 takes for 66 users.
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
            _build_world()
        world = None
        tables.append(("world (services)", time.perf_counter() - started))
        Loader(url, world, customers=args.customers, sales=args.sales, tables=tables).load()
    load_seconds = time.perf_counter() - started
    world = _find_world()
    from gridvend.audit.models import AuditEvent
    from gridvend.vending.models import Sale, Token

    label = "small" if args.customers < 100_000 else "big"
    timings = _time_pages(world, repeat=args.repeat)
    sell, export = _sell_rates(world, seconds=args.sell_seconds, whole_export=args.whole_export)
    return {
        "label": label,
        "customers": Customer.objects.count(),
        "sales": Sale.objects.count(),
        "tokens": _estimate("vending_token", Token),
        "audit": _estimate("audit_auditevent", AuditEvent),
        "reused": reused,
        "load_seconds": load_seconds,
        "load_tables": tables,
        "timings": timings,
        "sell": sell,
        "export": export,
    }


def _estimate(table: str, model: Any) -> int:
    """The planner's row count of a big table (counting 9 million rows would take seconds)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
        row = cursor.fetchone()
    estimate = int(row[0]) if row else -1
    return estimate if estimate > 0 else int(model.objects.count())


def _build_world() -> None:
    """The part made through the services: tree, users, key, tariff, points, shifts, and one
    real sale per tender, whose rows the bulk sales copy."""
    from django.utils import timezone

    from gridvend.identity import services as identity
    from gridvend.identity.roles import Capability, Role
    from gridvend.kernel.money import Money
    from gridvend.keys import services as keys
    from gridvend.org import services as org
    from gridvend.org.models import Channel
    from gridvend.tariffs import services as tariffs
    from gridvend.tariffs.examples import residential_spec
    from gridvend.vending.shifts import open_shift

    password = secrets.token_urlsafe(16)
    root = org.create_root(name="Scale Utility", code="scale")
    admin = identity.create_administrator(
        username="scale.admin", full_name="Scale Admin", password=password, org_unit=root
    )
    centres = []
    for r in range(REGIONS):
        region = org.create_unit(actor=admin, parent=root, name=f"Region {r + 1}")
        for u in range(UNITS_PER_REGION):
            unit = org.create_unit(actor=admin, parent=region, name=f"Unit {r + 1}.{u + 1}")
            if r == 0 and u == 0:
                identity.create_user(
                    actor=admin,
                    username="scale.manager",
                    full_name="Scale Unit Manager",
                    org_unit=unit,
                    role=Role.VENDING_POINT_MANAGER,
                    password=password,
                    capabilities=(Capability.FINANCE, Capability.CUSTOMER_CARE),
                )
            for c in range(CENTRES_PER_UNIT):
                centres.append(
                    org.create_unit(
                        actor=admin, parent=unit, name=f"Centre {r + 1}.{u + 1}.{c + 1}"
                    )
                )
    maker = identity.create_user(
        actor=admin,
        username="scale.maker",
        full_name="Scale Maker",
        org_unit=root,
        role=Role.MASTER_STATION_MANAGER,
        password=password,
        capabilities=(Capability.FINANCE,),
    )
    keys.store_vending_key(actor=admin, key_ref="scale-vk", key_hex=secrets.token_hex(8), dkga="02")
    tariff = tariffs.create_tariff(
        actor=maker, code="scale", name="Scale", org_unit=root, currency="KES"
    )
    spec = residential_spec(debt_recovery=None)
    version = tariffs.submit_tariff_version(
        actor=maker, version=tariffs.create_tariff_draft(actor=maker, tariff=tariff, spec=spec)
    )
    # In force from now (a tariff cannot take effect in the past): the bulk sales of the two
    # years before carry this version as the template sales do.
    tariffs.publish_tariff_version(actor=admin, version=version, effective_from=timezone.now())
    for i, centre in enumerate(centres):
        org.create_vending_point(
            actor=admin, org_unit=centre, name=f"Pay Office {i + 1}", channel=Channel.PAY_OFFICE
        )
        identity.create_user(
            actor=admin,
            username=f"scale.cashier{i}",
            full_name=f"Scale Cashier {i}",
            org_unit=centre,
            role=Role.OPERATOR,
            password=password,
            capabilities=(Capability.CASHIER,),
        )
    world = _find_world()
    open_shift(
        actor=world["cashier"],
        vending_point=world["point"],
        opening_float=Money.from_major("0", "KES"),
    )


def _find_world() -> dict[str, Any]:
    from gridvend.identity.models import User
    from gridvend.org.models import OrgUnit, VendingPoint
    from gridvend.tariffs.models import Tariff

    centres = list(OrgUnit.objects.filter(depth=3).order_by("path"))
    points = {p.org_unit_id: p for p in VendingPoint.objects.filter(code__startswith="pay-office")}
    cashiers = {u.org_unit_id: u for u in User.objects.filter(username__startswith="scale.cashier")}
    return {
        "admin": User.objects.get(username="scale.admin"),
        "manager": User.objects.get(username="scale.manager"),
        "cashier": cashiers[centres[0].pk],
        "centres": centres,
        "points": [points[c.pk] for c in centres],
        "cashiers": [cashiers[c.pk] for c in centres],
        "point": points[centres[0].pk],
        "tariff": Tariff.objects.get(code="scale"),
    }


# --- the bulk loader ----------------------------------------------------------------------------


def luhn(payload: str) -> str:
    from gridvend.sts.identity import luhn_check_digit

    return payload + str(luhn_check_digit(payload))


def person(i: int) -> tuple[str, str]:
    """A name and E.164 phone for customer ``i``: 60% Kenyan, 20% Nigerian, 10% Arabic (Egypt),
    10% Chinese."""
    # Scattered (a multiplicative hash), so that every service centre has every script.
    kind = ((i * 2654435761) % 2**32) * 10 >> 32
    k = (i * 7919) % 100_000_000  # a bijection on eight digits: phones never repeat
    if kind < 6:
        first, last = KENYAN_FIRST[i % 15], KENYAN_LAST[(i // 15) % 14]
        middle = KENYAN_FIRST[(i // 210) % 15]
        return f"{first} {middle} {last}", f"+2547{k:08d}"
    if kind < 8:
        first, last = NIGERIAN_FIRST[i % 12], NIGERIAN_LAST[(i // 12) % 11]
        return f"{first} {last}", f"+23480{k:08d}"
    if kind == 8:
        first, last = ARABIC_FIRST[i % 12], ARABIC_LAST[(i // 12) % 10]
        return f"{first} {last}", f"+2010{k:08d}"
    given = CHINESE_GIVEN[i % 14] + ("" if i % 3 else CHINESE_GIVEN[(i // 14) % 14])
    return CHINESE_SURNAME[(i // 196) % 12] + given, f"+86138{k:08d}"


class Table:
    """COPY into one model's table: the columns the loader writes, then every other concrete
    column of the model with its default (so a column added by a later migration never breaks
    the load; one without a default is named in the error)."""

    def __init__(self, model: Any, columns: tuple[str, ...]) -> None:
        from django.db import connection

        self.name = model._meta.db_table
        known = set(columns)
        extra_columns, extra_values = [], []
        self.unfilled = []
        for field in model._meta.concrete_fields:
            if field.column in known:
                continue
            if field.has_default():
                value = field.get_db_prep_save(field.get_default(), connection)
            elif field.null:
                value = None
            elif field.blank and field.empty_strings_allowed:
                value = ""
            else:
                raise SystemExit(f"{self.name}.{field.column}: the loader has no value for it")
            extra_columns.append(field.column)
            extra_values.append(value)
            self.unfilled.append(field.column)
        self.columns = (*columns, *extra_columns)
        self.extra = tuple(_copy_value(v) for v in extra_values)

    def copy(self, cursor: Any, rows: Iterable[tuple[Any, ...]]) -> int:
        n = 0
        with cursor.copy(f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN") as copy:
            extra = self.extra
            for row in rows:
                copy.write_row(row + extra)
                n += 1
        return n


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    if hasattr(value, "adapted"):  # Django's JSON adapter wraps the value
        return _copy_value(value.adapted)
    return value


class Loader:
    def __init__(
        self, url: str, world: None, *, customers: int, sales: int, tables: list[tuple[str, float]]
    ) -> None:
        self.url = url
        self.customers = customers
        self.sales = sales
        self.tables = tables
        self.rng = random.Random(20)

    def _timed(self, name: str, action: Callable[[], int]) -> None:
        start = time.perf_counter()
        rows = action()
        seconds = time.perf_counter() - start
        self.tables.append((f"{name} ({rows:,})", seconds))
        print(f"  {name:<22} {rows:>11,} rows {seconds:>8.1f} s", file=sys.stderr, flush=True)

    def load(self) -> None:
        import psycopg
        from django.db import connection

        world = _find_world()
        self.world = world
        self.templates = _templates(world)
        connection.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("SET synchronous_commit = off")
            self.conn = conn
            self.ids = {
                t: conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in (
                    "customers_customer",
                    "customers_premise",
                    "meters_meter",
                    "meters_installation",
                    "vending_shift",
                    "vending_sale",
                    "vending_token",
                    "ledger_journalentry",
                    "ledger_posting",
                    "audit_auditevent",
                    "customers_debt",
                    "ledger_account",
                )
            }
            self._chains()
            self._accounts()
            conn.execute("SET maintenance_work_mem = '512MB'")
            restore: list[str] = []
            self._timed("drop indexes", lambda: self._drop_indexes(restore))
            self._timed("customers", self._customers)
            self._timed("premises", self._premises)
            self._timed("installations", self._installations)
            self._timed("debts", self._debts)
            self._timed("shifts", self._shifts)
            self.last_tid = array("q", bytes(8 * self.customers))
            self._timed("sales (+ tokens, books, audit)", self._sales)
            self._timed("meters", self._meters)
            self._timed("audit heads", self._heads)
            self._timed("rebuild indexes", lambda: self._rebuild(restore))
            for table in self.ids:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
        self._timed("back-fill", _backfill)
        self._timed("analyze", self._analyze)

    def _drop_indexes(self, restore: list[str]) -> int:
        """Drop the secondary indexes and unique constraints of the tables about to be filled
        (building an index once at the end is several times faster than keeping it up to date
        row by row); ``restore`` receives the statements that put each back as it was. The
        unique constraints coming back also check the loaded rows (references, TIDs, hashes)."""
        conn = self.conn
        for table in self.ids:
            for name, definition in conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'u'",
                (table,),
            ).fetchall():
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for name, definition in conn.execute(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
                "AND NOT x.indisprimary AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
                (table,),
            ).fetchall():
                conn.execute(f'DROP INDEX "{name}"')
                restore.append(definition)
        return len(restore)

    def _rebuild(self, restore: list[str]) -> int:
        for statement in restore:
            self.conn.execute(statement)
        return len(restore)

    def _analyze(self) -> int:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        return 0

    # Stream heads: the chain continues from where the services left each stream.
    def _chains(self) -> None:
        self.heads = {
            row[0]: [row[1], row[2], None]
            for row in self.conn.execute("SELECT id, seq, hash FROM audit_audithead").fetchall()
        }

    def _accounts(self) -> None:
        """A till account per pay office, like the template point's (made by its first sale)."""
        from gridvend.ledger.models import Account

        point = self.world["point"]
        template = {a.code: a for a in Account.objects.filter(code__contains=point.code)}
        self.account_ids: dict[str, int] = {a.code: a.pk for a in Account.objects.all()}
        table = Table(
            Account,
            (
                "id",
                "code",
                "name",
                "kind",
                "currency",
                "balance_minor",
                "limit_minor",
                "created_at",
            ),
        )
        rows = []
        for p in self.world["points"]:
            for code, account in template.items():
                new_code = code.replace(point.code, p.code)
                if new_code in self.account_ids:
                    continue
                self.ids["ledger_account"] += 1
                self.account_ids[new_code] = self.ids["ledger_account"]
                rows.append(
                    (
                        self.ids["ledger_account"],
                        new_code,
                        account.name.replace(point.code, p.code),
                        account.kind,
                        account.currency,
                        account.balance_minor,
                        account.limit_minor,
                        account.created_at,
                    )
                )
        with self.conn.cursor() as cursor:
            table.copy(cursor, rows)

    def _customer_unit(self, i: int) -> int:
        return i % len(self.world["centres"])

    def _customers(self) -> int:
        from gridvend.customers.models import Customer
        from gridvend.kernel.names import normalise_name

        table = Table(
            Customer,
            (
                "id",
                "account_number",
                "name",
                "national_id",
                "phone",
                "email",
                "category",
                "status",
                "org_unit_id",
                "tariff_id",
                "created_at",
                "name_search",
            ),
        )
        self.customer_base = self.ids["customers_customer"] + 1
        centres = [c.pk for c in self.world["centres"]]
        tariff = self.world["tariff"].pk
        start = datetime.now(UTC) - timedelta(days=DAYS + 30)

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.customers):
                name, phone = person(i)
                yield (
                    self.customer_base + i,
                    luhn(str(300_000_000 + i)),
                    name,
                    f"{20_000_000 + i}",
                    phone,
                    "",
                    "commercial" if i % 23 == 0 else "residential",
                    "active",
                    centres[i % len(centres)],
                    tariff,
                    start + timedelta(seconds=i),
                    normalise_name(name),  # as the customer services write it
                )

        with self.conn.cursor() as cursor:
            return table.copy(cursor, rows())

    def _premises(self) -> int:
        from gridvend.customers.models import Premise

        table = Table(
            Premise, ("id", "org_unit_id", "address", "feeder", "transformer", "created_at")
        )
        self.premise_base = self.ids["customers_premise"] + 1
        centres = [c.pk for c in self.world["centres"]]
        now = datetime.now(UTC) - timedelta(days=DAYS + 30)
        streets = ("Moi Avenue", "Kenyatta Road", "Ngong Road", "Oginga Odinga St", "Harambee Ave")

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.customers):
                yield (
                    self.premise_base + i,
                    centres[i % len(centres)],
                    f"{i // 5 + 1} {streets[i % 5]}",
                    f"F{i % 97}",
                    f"T{i % 4099}",
                    now,
                )

        with self.conn.cursor() as cursor:
            return table.copy(cursor, rows())

    def meter_number(self, i: int) -> str:
        return luhn(f"04{10_000_000 + i:08d}")

    def _meters(self) -> int:
        from gridvend.meters.models import Meter

        template = self.templates["meter"]
        table = Table(
            Meter,
            (
                "id",
                "number",
                "org_unit_id",
                "make",
                "model",
                "phases",
                "carrier",
                "sgc",
                "ti",
                "krn",
                "kt",
                "ken",
                "ea",
                "dkga",
                "base_date_year",
                "key_ref",
                "status",
                "block_reason",
                "last_tid",
                "customer_id",
                "premise_id",
                "created_at",
            ),
        )
        centres = [c.pk for c in self.world["centres"]]
        now = datetime.now(UTC) - timedelta(days=DAYS + 30)
        last = self.last_tid

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.customers):
                yield (
                    self.meter_base + i,
                    self.meter_number(i),
                    centres[i % len(centres)],
                    "Hexing",
                    "HXE110",
                    1,
                    "keypad",
                    template.sgc,
                    template.ti,
                    template.krn,
                    template.kt,
                    template.ken,
                    template.ea,
                    template.dkga,
                    template.base_date_year,
                    template.key_ref,
                    "blocked" if i % 997 == 5 else "active",
                    "",
                    last[i] or None,
                    self.customer_base + i,
                    self.premise_base + i,
                    now,
                )

        with self.conn.cursor() as cursor:
            return table.copy(cursor, rows())

    @property
    def meter_base(self) -> int:
        return int(self.ids["meters_meter"]) + 1

    def _installations(self) -> int:
        from gridvend.meters.models import Installation

        table = Table(
            Installation,
            ("id", "meter_id", "customer_id", "premise_id", "started_at", "ended_at", "end_reason"),
        )
        base = self.ids["meters_installation"] + 1
        now = datetime.now(UTC) - timedelta(days=DAYS + 30)

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.customers):
                yield (
                    base + i,
                    self.meter_base + i,
                    self.customer_base + i,
                    self.premise_base + i,
                    now,
                    None,
                    "",
                )

        with self.conn.cursor() as cursor:
            return table.copy(cursor, rows())

    def _debts(self) -> int:
        """Arrears for one customer in 50 (no journal entry: the bench's debts were never booked,
        which `gridvend verify` does not require of a debt)."""
        from gridvend.customers.models import Debt

        table = Table(
            Debt,
            (
                "id",
                "customer_id",
                "reason",
                "currency",
                "original_minor",
                "balance_minor",
                "opened_by_id",
                "opened_at",
                "source",
                "journal_entry_id",
            ),
        )
        base = self.ids["customers_debt"] + 1
        admin = self.world["admin"].pk
        now = datetime.now(UTC) - timedelta(days=DAYS)

        def rows() -> Iterator[tuple[Any, ...]]:
            for n, i in enumerate(range(0, self.customers, 50)):
                yield (
                    base + n,
                    self.customer_base + i,
                    "Arrears at migration",
                    "KES",
                    150_000,
                    150_000 - (i % 7) * 10_000,
                    admin,
                    now,
                    "manual",
                    None,
                )

        with self.conn.cursor() as cursor:
            return table.copy(cursor, rows())

    def _day(self, d: int) -> datetime:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=DAYS - d)

    def _shifts(self) -> int:
        """One closed shift per pay office and day, its cashier's."""
        from gridvend.vending.models import Shift

        table = Table(
            Shift,
            (
                "id",
                "vending_point_id",
                "operator_id",
                "status",
                "currency",
                "opening_float_minor",
                "opened_at",
                "closed_at",
                "closed_by_id",
                "over_short_minor",
                "close_note",
                "is_force_closed",
            ),
        )
        self.shift_base = self.ids["vending_shift"] + 1
        points = [p.pk for p in self.world["points"]]
        cashiers = [u.pk for u in self.world["cashiers"]]
        n = len(points)

        def rows() -> Iterator[tuple[Any, ...]]:
            for d in range(DAYS):
                day = self._day(d)
                for p in range(n):
                    yield (
                        self.shift_base + d * n + p,
                        points[p],
                        cashiers[p],
                        "closed",
                        "KES",
                        0,
                        day,
                        day + timedelta(hours=23, minutes=59),
                        cashiers[p],
                        0,
                        "",
                        False,
                    )

        with self.conn.cursor() as cursor:
            return table.copy(cursor, rows())

    def _sales(self) -> int:
        """Sales in time order over two years; each a copy of the real sale of its tender, at the
        pay office of its meter's service centre, in that point's shift of the day."""
        from gridvend.audit.streams import stream_of
        from gridvend.ledger.models import JournalEntry, Posting
        from gridvend.vending.models import Sale, Token

        t = self.templates
        sale_columns = tuple(c for c in t["sale_columns"] if c != "id")
        sales = Table(Sale, ("id", *sale_columns))
        tokens = Table(
            Token,
            (
                "id",
                "sale_id",
                "meter_id",
                "sequence",
                "kind",
                "digits",
                "token_class",
                "subclass",
                "tid",
                "tid_base_year",
                "units",
                "description",
                "created_at",
            ),
        )
        entries = Table(
            JournalEntry,
            ("id", "occurred_at", "business_date", "kind", "memo", "reverses_id", "created_by_id"),
        )
        postings = Table(Posting, ("id", "entry_id", "account_id", "amount_minor", "currency"))
        point_code = self.world["point"].code
        points = self.world["points"]
        cashiers = [u.pk for u in self.world["cashiers"]]
        centres_paths = [c.path for c in self.world["centres"]]
        n_points = len(points)
        span = DAYS * 86400
        step = span / self.sales
        sale_id = self.ids["vending_sale"]
        token_id = self.ids["vending_token"]
        entry_id = self.ids["ledger_journalentry"]
        posting_id = self.ids["ledger_posting"]
        rng = self.rng
        origin = self._day(0)
        base_2014 = datetime(2014, 1, 1, tzinfo=UTC)
        last = self.last_tid
        tokens_n = 0
        sale_rows: list[tuple[Any, ...]] = []
        token_rows: list[tuple[Any, ...]] = []
        entry_rows: list[tuple[Any, ...]] = []
        posting_rows: list[tuple[Any, ...]] = []
        # Made plain JSON once, as the services store it (audit.chain.normalise).
        template_after = json.loads(json.dumps(t["event"]["after"] or {}, sort_keys=True))
        events = self._audit_table()
        event_rows: list[tuple[Any, ...]] = []
        self.labels = {u.pk: u.username for u in self.world["cashiers"]}
        batch = 50_000

        def flush() -> None:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                entries.copy(cursor, entry_rows)
                postings.copy(cursor, posting_rows)
                sales.copy(cursor, sale_rows)
                tokens.copy(cursor, token_rows)
                events.copy(cursor, event_rows)
            for rows in (sale_rows, token_rows, entry_rows, posting_rows, event_rows):
                rows.clear()

        for s in range(self.sales):
            m = rng.randrange(self.customers)
            p = m % n_points
            when = origin + timedelta(seconds=s * step + rng.random() * step)
            d = int((when - origin).total_seconds() // 86400)
            business = when.date()
            k = rng.randrange(len(TENDERS))
            sale = t["sales"][k]
            sale_id += 1
            entry_id += 1
            reference = f"S{sale_id:011d}"
            values = dict(sale)
            values.update(
                reference=reference,
                vending_point_id=points[p].pk,
                client_reference=reference,
                operator_id=cashiers[p],
                shift_id=self.shift_base + d * n_points + p,
                meter_id=self.meter_base + m,
                customer_id=self.customer_base + m,
                journal_entry_id=entry_id,
                created_at=when,
                business_date=business,
                business_month=business.strftime("%Y-%m"),
                receipt_printed_at=when,
            )
            sale_rows.append((sale_id, *(values[c] for c in sale_columns)))
            entry_rows.append((entry_id, when, business, "sale", "", None, cashiers[p]))
            for code, amount, currency in t["postings"][k]:
                posting_id += 1
                account = self.account_ids[code.replace(point_code, points[p].code)]
                posting_rows.append((posting_id, entry_id, account, amount, currency))
            minute = int((when - base_2014).total_seconds() // 60)
            for seq, token in enumerate(t["tokens"][k]):
                token_id += 1
                tokens_n += 1
                tid = max(minute, last[m] + 1)
                last[m] = tid
                digits = f"{rng.getrandbits(64) % 10**20:020d}"
                token_rows.append(
                    (
                        token_id,
                        sale_id,
                        self.meter_base + m,
                        seq + 1,
                        token["kind"],
                        digits,
                        token["token_class"],
                        token["subclass"],
                        tid,
                        token["tid_base_year"],
                        token["units"],
                        token["description"],
                        when,
                    )
                )
            after = dict(template_after)
            if "reference" in after:
                after["reference"] = reference
            event_rows.append(
                self._event(
                    stream_of(self.meter_base + m),
                    when,
                    cashiers[p],
                    str(sale_id),
                    reference,
                    centres_paths[p],
                    after,
                )
            )
            if len(sale_rows) >= batch:
                flush()
                if (s + 1) % (10 * batch) == 0:
                    print(f"    {s + 1:>11,} sales", file=sys.stderr, flush=True)
        flush()
        self.ids["vending_sale"] = sale_id
        self.tokens_n = tokens_n
        return self.sales

    def _audit_table(self) -> Table:
        from gridvend.audit.models import AuditEvent

        columns = (
            "id",
            "stream",
            "seq",
            "scheme",
            "occurred_at",
            "actor_id",
            "actor_label",
            "ip",
            "request_id",
            "event_type",
            "target_type",
            "target_id",
            "target_label",
            "org_path",
            "before",
            "after",
            "prev_hash",
            "hash",
        )
        return Table(AuditEvent, columns)

    def _event(
        self,
        stream: int,
        when: datetime,
        actor: Any,
        target_id: str,
        label: str,
        path: str,
        after: dict[str, Any],
    ) -> tuple[Any, ...]:
        """A sale's audit row, appended to its stream's chain with the product's own hashes
        (``audit.chain``): what the services' one-statement append would have written."""
        from psycopg.types.json import Jsonb

        from gridvend.audit.chain import GENESIS_HASH, SCHEME_LINK, content_hash, link_hash

        event_type = self.templates["event"]["event_type"]
        label_of_actor = self.labels[actor]
        fields = {
            "occurred_at": when,
            "actor_id": actor,
            "actor_label": label_of_actor,
            "ip": None,
            "request_id": "",
            "event_type": event_type,
            "target_type": "vending.sale",
            "target_id": target_id,
            "target_label": label,
            "org_path": path,
            "before": None,
            "after": after,
        }
        content = content_hash(scheme=SCHEME_LINK, **fields)
        head = self.heads.setdefault(stream, [0, GENESIS_HASH, None])
        seq, prev = head[0] + 1, head[1]
        digest = link_hash(prev_hash=prev, stream=stream, seq=seq, content=content)
        head[0], head[1], head[2] = seq, digest, prev
        self.ids["audit_auditevent"] += 1
        return (
            self.ids["audit_auditevent"],
            stream,
            seq,
            SCHEME_LINK,
            when,
            actor,
            label_of_actor,
            None,
            "",
            event_type,
            "vending.sale",
            target_id,
            label,
            path,
            None,
            Jsonb(after),
            prev,
            digest,
        )

    def _heads(self) -> int:
        n = 0
        for stream, head in self.heads.items():
            if head[2] is not None:
                # Inserted for a stream the services never wrote to, else moved to its end.
                self.conn.execute(
                    "INSERT INTO audit_audithead (id, seq, hash, prev_hash) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
                    "SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, prev_hash = EXCLUDED.prev_hash",
                    (stream, head[0], head[1], head[2]),
                )
                n += 1
        return n


def _templates(world: dict[str, Any]) -> dict[str, Any]:
    """One real sale per tender (on one real meter), sold through ``vend_credit``: the rows every
    bulk sale of that tender copies."""
    from django.db import connection

    from gridvend.audit.models import AuditEvent
    from gridvend.customers import services as customers
    from gridvend.kernel.money import Money
    from gridvend.ledger.models import Posting
    from gridvend.meters import services as meters
    from gridvend.vending import services as vending
    from gridvend.vending.models import Sale

    admin = world["admin"]
    centre = world["centres"][0]
    customer = customers.create_customer(
        actor=admin,
        name="Template Customer",
        org_unit=centre,
        tariff=world["tariff"],
        category="residential",
    )
    premise = customers.create_premise(actor=admin, org_unit=centre, address="1 Template Rd")
    meter = meters.register_meter(
        actor=admin,
        number=luhn("0499999999"),
        org_unit=centre,
        sgc="600675",
        ti=1,
        krn=2,
        key_ref="scale-vk",
    )
    meters.install_meter(actor=admin, meter=meter, customer=customer, premise=premise)
    # The first sale of the month also pays the monthly charge and issues FBE: not the template.
    vending.vend_credit(
        actor=world["cashier"],
        vending_point=world["point"],
        client_reference="template-first",
        meter_number=meter.number,
        tender=Money.from_major("500", "KES"),
    )
    result: dict[str, Any] = {"sales": [], "tokens": [], "postings": [], "meter": meter}
    for tender in TENDERS:
        done = vending.vend_credit(
            actor=world["cashier"],
            vending_point=world["point"],
            client_reference=f"template-{tender}",
            meter_number=meter.number,
            tender=Money.from_major(tender, "KES"),
        )
        sale = Sale.objects.get(pk=done.sale.pk)
        row = {
            f.column: f.get_db_prep_save(getattr(sale, f.attname), connection)
            for f in Sale._meta.concrete_fields
        }
        row = {k: _copy_value(v) for k, v in row.items()}
        result["sales"].append(row)
        result["tokens"].append(list(sale.tokens.order_by("sequence").values()))
        result["postings"].append(
            [
                (p.account.code, p.amount_minor, p.currency)
                for p in Posting.objects.filter(entry_id=sale.journal_entry_id).select_related(
                    "account"
                )
            ]
        )
        event = AuditEvent.objects.get(target_type="vending.sale", target_id=str(sale.pk))
        result["event"] = {"event_type": event.event_type, "after": event.after}
    result["sale_columns"] = tuple(f.column for f in Sale._meta.concrete_fields)
    meter.refresh_from_db()
    return result


def _backfill() -> int:
    from django.utils.module_loading import import_string

    ran = 0
    for path in BACKFILLS:
        try:
            function = import_string(path)
        except ImportError:
            continue
        function()
        ran += 1
    return ran


# --- timing through the product's URLs ----------------------------------------------------------


def _client(user: Any) -> Any:
    from django.test import Client

    # The first of the default ALLOWED_HOSTS (the test client's "testserver" is not one).
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    session = client.session
    session["gv_second_factor"] = True
    session.save()
    return client


def _get(client: Any, url: str) -> tuple[float, int, int, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        start = time.perf_counter()
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        elapsed = (time.perf_counter() - start) * 1000
    return (
        elapsed,
        response.status_code,
        len(captured.captured_queries),
        body.decode(errors="replace"),
    )


def _timed(name: str, user: str, client: Any, url: str, repeat: int) -> dict[str, Any]:
    _get(client, url)  # warm-up
    runs = [_get(client, url) for _ in range(repeat)]
    return {
        "name": name,
        "user": user,
        "url": url,
        "ms": statistics.median(r[0] for r in runs),
        "status": runs[-1][1],
        "queries": runs[-1][2],
    }


_LAST_LINK = re.compile(
    r'<a\b[^>]*href="([^"]+)"[^>]*>\s*(?:Last|&raquo;|»|››|&rsaquo;&rsaquo;)\s*</a>', re.I
)
_REL_LAST = re.compile(r'<a\b[^>]*(?:rel="last"|aria-label="Last[^"]*")[^>]*href="([^"]+)"', re.I)
_PAGE_OF = re.compile(r"Page\s+\d+\s+of\s+([\d,]+)")
_PAGE_HREF = re.compile(r'href="\?[^"]*?page=(\d+)')


def last_page_url(url: str, html: str) -> str | None:
    """The URL of a list's last reachable page, as its first page shows it: a link marked last,
    else the highest page number it mentions."""
    import html as html_lib

    for pattern in (_REL_LAST, _LAST_LINK):
        match = pattern.search(html)
        if match:
            href = html_lib.unescape(match.group(1))
            return url + href if href.startswith("?") else href
    numbers = [int(n.replace(",", "")) for n in _PAGE_OF.findall(html)]
    numbers += [int(n) for n in _PAGE_HREF.findall(html)]
    if numbers and max(numbers) > 1:
        return f"{url}?page={max(numbers)}"
    return None


def _time_pages(world: dict[str, Any], *, repeat: int) -> list[dict[str, Any]]:
    from urllib.parse import urlencode

    from django.db.models import Count

    from gridvend.customers.models import Customer
    from gridvend.meters.models import Meter
    from gridvend.vending.models import Sale

    cashier = _client(world["cashier"])
    admin = _client(world["admin"])
    manager = _client(world["manager"])
    out = []
    # Targets in the cashier's service centre, by script.
    sample = list(
        Customer.objects.filter(org_unit=world["centres"][0])
        .exclude(name="Template Customer")
        .order_by("id")[:400]
    )
    latin = next(c for c in sample if c.phone.startswith("+2547"))
    arabic = next((c for c in sample if re.search("[\u0600-\u06ff]", c.name)), latin)
    chinese = next((c for c in sample if re.search("[\u4e00-\u9fff]", c.name)), latin)
    meter = Meter.objects.filter(customer=latin).first()
    searches = [
        ("search: meter number", meter.number if meter else "0"),
        ("search: account number", latin.account_number),
        ("search: phone, local form", "0" + latin.phone[4:]),
        ("search: phone, international", latin.phone),
        ("search: full name", latin.name),
        ("search: partial name", latin.name.split()[-1]),
        ("search: Arabic name", arabic.name if arabic else ""),
        ("search: Chinese name", chinese.name if chinese else ""),
    ]
    for name, text in searches:
        if not text:  # no customer of that script in the cashier's centre (tiny data sets)
            continue
        out.append(
            _timed(name, "cashier", cashier, "/cashier/search/?" + urlencode({"q": text}), repeat)
        )
    for name, url in (
        ("customers", "/customers/"),
        ("premises", "/premises/"),
        ("meters", "/meters/"),
        ("debts", "/debts/"),
        ("operation log", "/operation-log/"),
        ("vending points", "/vending-points/"),
        ("users", "/users/"),
        ("partners", "/partners/"),
    ):
        first = _timed(f"{name}: first page", "admin", admin, url, repeat)
        out.append(first)
        _, _, _, html = _get(admin, url)
        last = last_page_url(url, html)
        if last is None:
            out.append({**first, "name": f"{name}: last page", "ms": first["ms"]})
        else:
            out.append(_timed(f"{name}: last page", "admin", admin, last, repeat))
    if meter is not None:
        out.append(_timed("meter page", "admin", admin, f"/meters/{meter.pk}/", repeat))
    out.append(_timed("customer page", "admin", admin, f"/customers/{latin.pk}/", repeat))
    # The busiest closed shift of the manager's business unit (set-up, not timed).
    busiest = (
        Sale.objects.filter(
            shift__vending_point__org_unit__path__startswith=world["manager"].org_unit.path,
            shift__status="closed",
        )
        .values("shift_id")
        .order_by()
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if busiest:
        # One name on every data set, so that the small and big columns line up.
        print(f"  the busiest shift has {busiest['n']} sales", file=sys.stderr, flush=True)
        out.append(
            _timed(
                "Z report, busiest shift",
                "manager",
                manager,
                f"/supervisor/shifts/{busiest['shift_id']}/",
                repeat,
            )
        )
    return out


# --- selling, alone and beside an export ---------------------------------------------------------


def _sell_for(world: dict[str, Any], seconds: float, tag: str, until: Callable[[], bool]) -> float:
    from gridvend.kernel.money import Money
    from gridvend.meters.models import Meter
    from gridvend.vending import services as vending

    numbers = list(
        Meter.objects.filter(org_unit=world["centres"][0], status="active")
        .order_by("id")
        .values_list("number", flat=True)[:500]
    )
    sold = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds and not until():
        vending.vend_credit(
            actor=world["cashier"],
            vending_point=world["point"],
            client_reference=f"{tag}-{sold}",
            meter_number=numbers[sold % len(numbers)],
            tender=Money.from_major("300", "KES"),
        )
        sold += 1
    return sold / (time.perf_counter() - start)


# The worker's CPU weight as docs/deployment.md sets it (systemd CPUWeight=10 against the
# default 100): a scheduling group of its own about a tenth as heavy as the web server's and the
# database's.
WORKER_GROUP_NICE = 10


def _as_the_worker_service() -> None:
    """Run this process as the deployment guide runs the job worker: in a scheduling group of its
    own with a low weight. Linux schedules groups before processes (systemd puts each service in
    a cgroup; a desktop or shell session is an autogroup), and a thread's nice value only orders
    it within its group: without this the export's group would weigh as much as PostgreSQL's.
    Here the group is an autogroup (a new session, its nice value raised), where cgroups are not
    ours to make; where autogroups are off, nothing changes and the figure says so."""
    try:
        os.setsid()
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(WORKER_GROUP_NICE))
    except OSError:
        pass


def _export(admin_pk: int, rows: Any, status: Any) -> None:
    """In its own process: the administrator's customer export, downloaded to the end, counting
    the rows as they come (or, if the export URL queues a job instead of answering with the
    file, that export's job runs here, as the worker service would run it: ``rows`` is then
    read from the export's recorded progress)."""
    from django.db import connections

    _as_the_worker_service()
    connections.close_all()
    from gridvend.exports import tasks
    from gridvend.exports.models import Export
    from gridvend.identity.models import User

    client = _client(User.objects.get(pk=admin_pk))
    response = client.get("/customers/export.csv")
    status.value = response.status_code
    if response.streaming:
        rows.value = -1  # the header
        for chunk in response.streaming_content:
            rows.value += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    else:
        status.value = -response.status_code
        # This request's export, not one an earlier, interrupted run left queued.
        tasks.run_export(Export.objects.filter(owner_id=admin_pk).latest("id").pk)


def _sell_rates(
    world: dict[str, Any], *, seconds: float, whole_export: bool
) -> tuple[dict[str, float], dict[str, Any]]:
    from django.db import connections

    alone = _sell_for(world, seconds, f"alone-{secrets.token_hex(3)}", lambda: False)
    connections.close_all()
    context = multiprocessing.get_context("fork")
    rows, status = context.Value("q", 0), context.Value("i", 0)
    start = time.perf_counter()
    process = context.Process(target=_export, args=(world["admin"].pk, rows, status))
    process.start()
    time.sleep(min(1.0, seconds / 5))  # let the export start its query
    with_export = _sell_for(
        world, seconds, f"export-{secrets.token_hex(3)}", lambda: not process.is_alive()
    )
    how = (
        "streamed in the request"
        if status.value >= 0
        else "a job, run in a scheduling group a tenth as heavy (docs/deployment.md)"
    )
    if whole_export or not process.is_alive():
        process.join()
        how += ", to the end"
    else:
        # Only the selling window matters: the rest of a national export is not waited for.
        process.terminate()
        process.join()
        how += ", stopped after the selling window"
    if status.value < 0:
        from gridvend.exports.models import Export

        rows.value = Export.objects.filter(owner=world["admin"]).latest("id").rows_written
    export = {
        "status": abs(status.value),
        "rows": rows.value,
        "seconds": time.perf_counter() - start,
        "how": how,
    }
    return {"alone": alone, "with_export": with_export}, export


if __name__ == "__main__":
    main()
