"""Credit vends per second through `vend_credit`, next to the floor: the same rows written directly
with the database driver, so the cost of the framework shows as a ratio.

    .venv/bin/python benchmarks/vend_bench.py [--sales N] [--meters M]

Each backend runs in its own process against a throwaway database: an SQLite file in a temporary
directory, and PostgreSQL in a separate database (``gridvend_bench``) created next to the one in
GRIDVEND_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and dropped at the
end. An unreachable PostgreSQL is skipped unless the variable was set explicitly.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "gridvend_bench"


# --- the parent: one worker process per backend, then the table --------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _postgres_admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def _run_worker(url: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--worker", url,
        "--sales", str(args.sales), "--meters", str(args.meters),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
    env.update({"GRIDVEND_DATABASE_URL": url, "GRIDVEND_DEMO": "1", "GRIDVEND_LOG_LEVEL": "ERROR"})
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"benchmark worker failed for {url.split('://')[0]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=2000, help="timed sales per backend")
    parser.add_argument("--meters", type=int, default=200, help="meters the sales spread over")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, sales=args.sales, meters=args.meters)))
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="gridvend-bench-") as tmp:
        print(f"SQLite: {tmp}/bench.sqlite3 ({args.sales} sales over {args.meters} meters)")
        results.append(_run_worker(f"sqlite:///{tmp}/bench.sqlite3", args))

    explicit = os.environ.get("GRIDVEND_BENCH_POSTGRES_URL", "")
    admin_url = explicit or DEFAULT_POSTGRES
    try:
        admin = _postgres_admin(admin_url)
    except Exception as exc:
        if explicit:
            raise SystemExit(f"PostgreSQL at {admin_url} is unreachable: {exc}") from None
        print(f"PostgreSQL skipped: {admin_url} is unreachable")
    else:
        with admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            admin.execute(f"CREATE DATABASE {BENCH_DATABASE}")
            try:
                print(f"PostgreSQL: database {BENCH_DATABASE} next to {admin_url}")
                results.append(_run_worker(_with_database(admin_url, BENCH_DATABASE), args))
            finally:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{os.cpu_count()} CPUs, load average {load:.1f} (figures are wall-clock unless noted)")
    print(
        f"{'backend':<11} {'sales':>6} {'vends/s':>9} {'ms/vend':>8} {'floor writes/s':>15} "
        f"{'ratio':>6} {'token engine':>13} {'app CPU ms/vend':>16} {'queries/vend':>13}"
    )
    for r in results:
        print(
            f"{r['backend']:<11} {r['sales']:>6} {r['service_per_s']:>9,.0f} "
            f"{1000 / r['service_per_s']:>8.2f} {r['floor_per_s']:>15,.0f} "
            f"{r['floor_per_s'] / r['service_per_s']:>5.1f}x {r['engine_share']:>12.1%} "
            f"{r['cpu_ms_per_vend']:>16.2f} {r['queries_per_vend']:>13}"
        )
    print()
    print(
        "vends/s: sequential vend_credit calls, each its own transaction (price, TIDs, token, "
        "sale, journal, shift, audit).\nfloor: the rows one such sale writes, inserted and "
        "updated directly with the driver, one transaction per sale.\ntoken engine: the share of "
        "service time spent issuing tokens (STS encryption).\napp CPU: this process's "
        "CPU time per vend (on SQLite that includes the database; on PostgreSQL it does not); "
        "steadier than wall time on a busy machine."
    )


# --- the worker: build a small world through the services, then measure -------------------------


@dataclass
class _Timed:
    seconds: float = 0.0


class TimingEngine:
    """The software STS engine, timing every token it issues."""

    def __init__(self, inner: Any, timed: _Timed) -> None:
        self._inner = inner
        self._timed = timed

    def tid_for(self, meter: Any, when: datetime) -> int:
        tid: int = self._inner.tid_for(meter, when)
        return tid

    def issue_credit(self, meter: Any, *, kwh: Decimal, tid: int) -> Any:
        start = time.perf_counter()
        try:
            return self._inner.issue_credit(meter, kwh=kwh, tid=tid)
        finally:
            self._timed.seconds += time.perf_counter() - start

    def issue_engineering(
        self, meter: Any, *, kind: str, value: int | None, tid: int | None
    ) -> Any:
        return self._inner.issue_engineering(meter, kind=kind, value=value, tid=tid)

    def check_key_change(self, old: Any, new: Any) -> None:
        self._inner.check_key_change(old, new)

    def issue_key_change(self, old: Any, new: Any, *, roll_over: bool) -> Any:
        return self._inner.issue_key_change(old, new, roll_over=roll_over)


def worker(url: str, *, sales: int, meters: int) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from gridvend.keys.engine import token_engine
    from gridvend.vending import services as vending

    call_command("migrate", verbosity=0)
    world = _build_world(meters)
    timed = _Timed()
    engine = TimingEngine(token_engine(), timed)

    def sell(i: int, prefix: str) -> Any:
        return vending.vend_credit(
            actor=world["cashier"],
            vending_point=world["point"],
            client_reference=f"{prefix}-{i}",
            meter_number=world["numbers"][i % len(world["numbers"])],
            tender=world["tender"],
            engine=engine,
        )

    # Warm-up: each meter's first sale of the month also pays the service charge and issues FBE;
    # the timed sales are the everyday kind (one credit token).
    for i in range(len(world["numbers"])):
        sell(i, "warm")
    with CaptureQueriesContext(connection) as queries:
        sell(0, "count")
    query_count = len(queries.captured_queries)
    reset_queries()
    timed.seconds = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    last = None
    for i in range(sales):
        last = sell(i, "bench")
    service_seconds = time.perf_counter() - start
    service_cpu = time.process_time() - cpu_start
    assert last is not None
    floor_seconds = _floor(connection.vendor, url, last.sale.pk, sales, len(world["numbers"]))
    connection.close()
    return {
        "backend": connection.vendor,
        "sales": sales,
        "service_per_s": sales / service_seconds,
        "floor_per_s": sales / floor_seconds,
        "engine_share": timed.seconds / service_seconds,
        "cpu_ms_per_vend": service_cpu * 1000 / sales,
        "queries_per_vend": query_count,
    }


def _build_world(count: int) -> dict[str, Any]:
    from django.utils import timezone

    from gridvend.customers import services as customers
    from gridvend.identity import services as identity
    from gridvend.identity.roles import Capability, Role
    from gridvend.kernel.money import Money
    from gridvend.keys import services as keys
    from gridvend.meters import services as meters
    from gridvend.org import services as org
    from gridvend.org.models import Channel
    from gridvend.sts.identity import MeterNumber
    from gridvend.tariffs import services as tariffs
    from gridvend.tariffs.examples import residential_spec
    from gridvend.vending.shifts import open_shift

    password = secrets.token_urlsafe(16)
    root = org.create_root(name="Bench Utility", code="bench")
    admin = identity.create_administrator(
        username="bench.admin", full_name="Bench Admin", password=password, org_unit=root
    )
    centre = org.create_unit(actor=admin, parent=root, name="Bench SC")
    point = org.create_vending_point(
        actor=admin, org_unit=centre, name="Bench Pay Office", channel=Channel.PAY_OFFICE
    )
    maker = identity.create_user(
        actor=admin,
        username="bench.maker",
        full_name="Bench Maker",
        org_unit=root,
        role=Role.MASTER_STATION_MANAGER,
        password=password,
        capabilities=(Capability.FINANCE,),
    )
    cashier = identity.create_user(
        actor=admin,
        username="bench.cashier",
        full_name="Bench Cashier",
        org_unit=centre,
        role=Role.OPERATOR,
        password=password,
        capabilities=(Capability.CASHIER,),
    )
    keys.store_vending_key(actor=admin, key_ref="bench-vk", key_hex=secrets.token_hex(8), dkga="02")
    tariff = tariffs.create_tariff(
        actor=maker, code="bench", name="Bench", org_unit=root, currency="KES"
    )
    # The worked example without its debt rule: no customer in the benchmark owes anything.
    spec = residential_spec(debt_recovery=None)
    version = tariffs.submit_tariff_version(
        actor=maker, version=tariffs.create_tariff_draft(actor=maker, tariff=tariff, spec=spec)
    )
    tariffs.publish_tariff_version(actor=admin, version=version, effective_from=timezone.now())
    numbers = []
    for i in range(count):
        customer = customers.create_customer(
            actor=admin,
            name=f"Bench Customer {i}",
            org_unit=centre,
            tariff=tariff,
            category="residential",
        )
        premise = customers.create_premise(actor=admin, org_unit=centre, address=f"{i} Bench Rd")
        meter = meters.register_meter(
            actor=admin,
            number=str(MeterNumber.from_parts("04", 50_000_000 + i)),
            org_unit=centre,
            sgc="600675",
            ti=1,
            krn=2,
            key_ref="bench-vk",
        )
        meters.install_meter(actor=admin, meter=meter, customer=customer, premise=premise)
        numbers.append(meter.number)
    open_shift(actor=cashier, vending_point=point, opening_float=Money.from_major("0", "KES"))
    return {
        "cashier": cashier,
        "point": point,
        "numbers": numbers,
        "tender": Money.from_major("500", "KES"),
    }


# --- the floor: the same writes with the bare driver --------------------------------------------


class _Sql:
    """Just enough of two DB-API drivers: placeholders, RETURNING and JSON values."""

    def __init__(self, vendor: str, url: str) -> None:
        self.vendor = vendor
        if vendor == "sqlite":
            import sqlite3

            self.conn: Any = sqlite3.connect(urlsplit(url).path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.row_factory = sqlite3.Row
            self.mark = "?"
        else:
            import psycopg
            from psycopg.rows import dict_row

            self.conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
            self.mark = "%s"

    def one(self, sql: str, *params: Any) -> dict[str, Any]:
        row = self.conn.execute(sql.replace("?", self.mark), params).fetchone()
        return dict(row)

    def all(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql.replace("?", self.mark), params).fetchall()]

    def execute(self, sql: str, *params: Any) -> None:
        self.conn.execute(sql.replace("?", self.mark), params)

    def insert(self, table: str, row: dict[str, Any]) -> int:
        values = dict(row)
        values.pop("id", None)
        if self.vendor != "sqlite":
            from psycopg.types.json import Jsonb

            values = {k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in values.items()}
        columns = ", ".join(values)
        marks = ", ".join([self.mark] * len(values))
        cursor = self.conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id",
            tuple(values.values()),
        )
        new_id: int = cursor.fetchone()[0] if self.vendor == "sqlite" else cursor.fetchone()["id"]
        return new_id


def _floor(vendor: str, url: str, template_sale_id: int, sales: int, meter_count: int) -> float:
    """Write ``sales`` copies of a real sale's rows, one transaction each; returns seconds."""
    db = _Sql(vendor, url)
    sale = db.one("SELECT * FROM vending_sale WHERE id = ?", template_sale_id)
    tokens = db.all("SELECT * FROM vending_token WHERE sale_id = ?", template_sale_id)
    entry = db.one("SELECT * FROM ledger_journalentry WHERE id = ?", sale["journal_entry_id"])
    postings = db.all("SELECT * FROM ledger_posting WHERE entry_id = ?", entry["id"])
    event = db.one(
        "SELECT * FROM audit_auditevent WHERE target_type = 'vending.sale' AND target_id = ?",
        str(template_sale_id),
    )
    meters = db.all(
        "SELECT id, last_tid FROM meters_meter WHERE id IN "
        "(SELECT DISTINCT meter_id FROM vending_sale) ORDER BY id"
    )[:meter_count]
    last_tid = {m["id"]: m["last_tid"] or 0 for m in meters}
    head = db.one("SELECT seq FROM audit_audithead WHERE id = 1")
    seq = head["seq"]
    start = time.perf_counter()
    for i in range(sales):
        meter_id = meters[i % len(meters)]["id"]
        seq += 1
        digest = secrets.token_hex(32)
        db.execute("BEGIN")
        entry_id = db.insert("ledger_journalentry", {**entry, "memo": f"floor {i}"})
        for posting in postings:
            db.insert("ledger_posting", {**posting, "entry_id": entry_id})
        sale_id = db.insert(
            "vending_sale",
            {
                **sale,
                "reference": f"F{i:011d}",
                "client_reference": f"floor-{i}",
                "meter_id": meter_id,
                "journal_entry_id": entry_id,
            },
        )
        for token in tokens:
            last_tid[meter_id] += 1
            db.insert(
                "vending_token",
                {**token, "sale_id": sale_id, "meter_id": meter_id, "tid": last_tid[meter_id]},
            )
        db.execute(
            "UPDATE meters_meter SET last_tid = ? WHERE id = ?", last_tid[meter_id], meter_id
        )
        for posting in sorted(postings, key=lambda p: p["account_id"]):
            db.execute(
                "UPDATE ledger_account SET balance_minor = balance_minor + ? WHERE id = ?",
                posting["amount_minor"],
                posting["account_id"],
            )
        db.insert(
            "audit_auditevent",
            {
                **event,
                "seq": seq,
                "target_id": str(sale_id),
                "occurred_at": datetime.now(UTC) if vendor != "sqlite" else event["occurred_at"],
                "prev_hash": digest,
                "hash": digest,
            },
        )
        db.execute("UPDATE audit_audithead SET seq = ?, hash = ? WHERE id = 1", seq, digest)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.conn.close()
    return elapsed


if __name__ == "__main__":
    main()
