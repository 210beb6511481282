"""Credit vends per second through `vend_credit`, next to the floor: the same rows written directly
with the database driver, so the cost of the framework shows as a ratio; sequentially, then with
N processes selling at once.

    .venv/bin/python benchmarks/vend_bench.py [--sales N] [--meters M] [--concurrency 1,2,4,8,16]

Each backend runs in its own process against a throwaway database: an SQLite file in a temporary
directory, and PostgreSQL in a separate database (``gridvend_bench``) created next to the one in
GRIDVEND_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and dropped at the
end. An unreachable PostgreSQL is skipped unless the variable was set explicitly.

The sequential part sells ``--sales`` credit vends one after another, then writes the same rows
with the bare driver (the floor). It also counts the queries of one sale of each kind: a credit,
a credit that carries free basic electricity (a meter's first sale of the month, which also pays
the monthly charge), a free issue and an engineering token.

The concurrent part runs, for each level N of ``--concurrency``, N worker processes forked from
the backend's process, one database connection each, held at a barrier until all are connected,
each selling its share of ``--sales``; vends/s is the sales completed by all of them divided by
the wall time from the barrier to the last one finishing. Four workloads:

- random meters: each sale a random meter of ``--meters``; each worker sells as its own cashier
  at its own vending point (its own shift and till), so nothing is shared but the database;
- one hot meter: every sale on the same meter, each worker its own cashier and point;
- one hot seller: random meters, all through one vending point and one cashier's open shift.
  A cashier has at most one open shift (a constraint), so N terminals of one cashier share one
  shift: the drawer every sale of that seller passes through (each sale share-locks its row so
  the close waits for it), the point's till account keeps no balance, so no sale writes its row;
- one hot float: random meters, all through one bank's vending point and its prefunded float,
  the account every sale draws on and that may never go below zero.

Beside each, the floor at the same concurrency: N processes writing the rows of one such sale
with the driver (taking the meter's and the audit head's rows as the service does, and posting
in one statement whose trigger moves only kept balances, as ``ledger.services`` does), each
worker copying a sale its service counterpart made. On SQLite a writer waits for the
write lock (a busy timeout); a "database is locked" that still escapes is retried and counted,
and a sale that fails is counted, never hidden.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "gridvend_bench"
WORKLOADS = ("random meters", "one hot meter", "one hot seller", "one hot float")
# A sale that meets a locked database (SQLite) or a deadlock is tried again this often.
MAX_RETRIES = 20
# How long the parent waits for every worker of a level to be connected and ready.
BARRIER_SECONDS = 600


# --- the parent: one worker process per backend, then the tables --------------------------------


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
        "--concurrency", ",".join(str(n) for n in args.concurrency),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
    env.update({"GRIDVEND_DATABASE_URL": url, "GRIDVEND_DEMO": "1", "GRIDVEND_LOG_LEVEL": "ERROR"})
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"benchmark worker failed for {url.split('://')[0]}")
    sys.stderr.write(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _levels(text: str) -> list[int]:
    """``1,2,4`` as [1, 2, 4]; an empty string (or 0) skips the concurrent part."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("write levels as 1,2,4,8") from None
    if any(n < 0 or n > 64 for n in levels):
        raise argparse.ArgumentTypeError("each level is between 1 and 64 processes")
    return [n for n in levels if n > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=2000, help="timed sales per backend and run")
    parser.add_argument("--meters", type=int, default=200, help="meters the sales spread over")
    parser.add_argument(
        "--concurrency",
        type=_levels,
        default=[1, 2, 4, 8, 16],
        help="processes selling at once, e.g. 1,2,4,8,16 (empty: sequential part only)",
    )
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(
            args.worker, sales=args.sales, meters=args.meters, concurrency=args.concurrency
        )
        print(json.dumps(result))
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

    _print_sequential(results)
    _print_queries(results)
    if args.concurrency:
        _print_concurrent(results)


def _print_sequential(results: list[dict[str, Any]]) -> None:
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


def _print_queries(results: list[dict[str, Any]]) -> None:
    print(f"\n{'queries per vend':<18}" + "".join(f"{kind:>22}" for kind in QUERY_KINDS))
    for r in results:
        counts = r["queries"]
        print(f"{r['backend']:<18}" + "".join(f"{counts[kind]:>22}" for kind in QUERY_KINDS))
    print(
        "One sale of each kind under CaptureQueriesContext. credit + FBE is a meter's first sale "
        "of the month\n(it also pays the monthly charge); the sequential table's queries/vend is "
        "the everyday credit."
    )


def _print_concurrent(results: list[dict[str, Any]]) -> None:
    print(
        f"\n{'backend':<11} {'workload':<15} {'N':>3} {'sold':>6} {'vends/s':>8} {'x seq':>6} "
        f"{'retries':>8} {'failed':>7} {'CPU ms/vend':>12} {'floor/s':>8} {'ratio':>6} "
        f"{'fl retries':>10} {'fl failed':>9}"
    )
    for r in results:
        for run in r["concurrent"]:
            s, f = run["service"], run["floor"]
            base = r["service_per_s"]
            print(
                f"{r['backend']:<11} {run['workload']:<15} {run['n']:>3} {s['sold']:>6} "
                f"{s['per_s']:>8,.0f} {s['per_s'] / base:>5.1f}x {s['retries']:>8} "
                f"{s['failed']:>7} {s['cpu_ms_per_vend']:>12.2f} {f['per_s']:>8,.0f} "
                f"{f['per_s'] / s['per_s'] if s['per_s'] else float('nan'):>5.1f}x "
                f"{f['retries']:>10} {f['failed']:>9}"
            )
        failures: Counter[str] = Counter()
        for run in r["concurrent"]:
            for part in ("service", "floor"):
                failures.update(run[part]["errors"])
        for message, count in failures.most_common():
            print(f"  {r['backend']}: {count} x {message}")
    print()
    print(
        "N: worker processes started together (one connection each), each selling --sales/N.\n"
        "sold: sales completed; vends/s: sold / wall time from the start to the last worker "
        "finishing; x seq: against the sequential vends/s above.\n"
        "random meters, one hot meter: each worker is its own cashier at its own vending point "
        "(own shift, own till).\none hot seller: every worker sells as the same cashier at the "
        "same vending point, through that cashier's one open shift\n(a cashier has one open "
        "shift; each sale share-locks its row), so the shift is shared (the till account "
        "keeps no balance).\n"
        "one hot float: every worker sells as the same cashier through one bank's prefunded "
        "float (no shift), the account every sale draws on.\n"
        "retries: sales tried again after 'database is locked', a deadlock or a serialisation "
        "failure; failed: sales given up (reasons listed).\nCPU ms/vend: process CPU per vend, "
        "the workers' time.process_time() summed over their sales (on SQLite it includes the "
        "database).\nfloor/s: N processes writing the same rows with the driver, one transaction "
        "per sale, locking the meter and audit head rows (and a float, none here) as a sale does; "
        "ratio: floor / service."
    )


# --- the worker: build a small world through the services, then measure -------------------------

QUERY_KINDS = ("credit", "credit + FBE", "free issue", "engineering token")


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


def worker(url: str, *, sales: int, meters: int, concurrency: list[int]) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from gridvend.keys.engine import token_engine
    from gridvend.vending import services as vending
    from gridvend.vending.models import TokenKind

    call_command("migrate", verbosity=0)
    world = _build_world(meters, sellers=max(concurrency, default=0))
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
    # the timed sales are the everyday kind (one credit token). The process's first sale reads
    # what it then keeps (the tariff version, the vending key) and opens the point's accounts,
    # so the second meter's first sale is the one counted.
    queries: dict[str, int | str] = {}
    sell(0, "warm")
    with CaptureQueriesContext(connection) as captured:
        first = sell(1, "warm")
    has_fbe = any(t.kind == TokenKind.FBE for t in first.tokens)
    queries["credit + FBE"] = _statements(captured) if has_fbe else "no FBE"
    for i in range(2, len(world["numbers"])):
        sell(i, "warm")
    with CaptureQueriesContext(connection) as captured:
        sell(0, "count")
    queries["credit"] = _statements(captured)
    reset_queries()
    timed.seconds = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    last = None
    for i in range(sales):
        last = sell(i, "bench")
    service_seconds = time.perf_counter() - start
    service_cpu = time.process_time() - cpu_start
    assert last is not None
    floor_seconds = _floor(
        connection.vendor, url, last.sale.pk, sales, world["meter_ids"], run_tag="F000"
    )
    with CaptureQueriesContext(connection) as captured:
        vending.issue_free_credit(
            actor=world["supervisor"],
            vending_point=world["point"],
            client_reference="count-free",
            meter_number=world["numbers"][0],
            kwh=Decimal("5"),
            reason="benchmark",
            engine=engine,
        )
    queries["free issue"] = _statements(captured)
    with CaptureQueriesContext(connection) as captured:
        vending.issue_engineering_token(
            actor=world["supervisor"],
            vending_point=world["point"],
            client_reference="count-engineering",
            meter_number=world["numbers"][0],
            kind="set_power_limit",
            value=3000,
            reason="benchmark",
            engine=engine,
        )
    queries["engineering token"] = _statements(captured)
    vendor = connection.vendor
    connection.close()
    runs = _concurrent(world, url, vendor, sales=sales, levels=concurrency, template=last.sale.pk)
    return {
        "backend": vendor,
        "sales": sales,
        "service_per_s": sales / service_seconds,
        "floor_per_s": sales / floor_seconds,
        "engine_share": timed.seconds / service_seconds,
        "cpu_ms_per_vend": service_cpu * 1000 / sales,
        "queries_per_vend": queries["credit"],
        "queries": queries,
        "concurrent": runs,
    }


def _statements(captured: Any) -> int:
    """Statements a sale sent, without BEGIN and COMMIT (which every transaction has, and which
    Django sends through a cursor on SQLite only), as tests/vending/test_vend_queries.py counts."""
    control = ("BEGIN", "COMMIT", "ROLLBACK")
    return sum(1 for q in captured.captured_queries if not str(q["sql"]).startswith(control))


def _build_world(count: int, *, sellers: int) -> dict[str, Any]:
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
    from gridvend.vending.services import top_up_float
    from gridvend.vending.shifts import open_shift

    password = secrets.token_urlsafe(16)
    root = org.create_root(name="Bench Utility", code="bench")
    admin = identity.create_administrator(
        username="bench.admin", full_name="Bench Admin", password=password, org_unit=root
    )
    centre = org.create_unit(actor=admin, parent=root, name="Bench SC")
    maker = identity.create_user(
        actor=admin,
        username="bench.maker",
        full_name="Bench Maker",
        org_unit=root,
        role=Role.MASTER_STATION_MANAGER,
        password=password,
        capabilities=(Capability.FINANCE,),
    )
    # Free issues and engineering tokens are a supervisor's (counted, not timed).
    supervisor = identity.create_user(
        actor=admin,
        username="bench.supervisor",
        full_name="Bench Supervisor",
        org_unit=centre,
        role=Role.VENDING_POINT_MANAGER,
        password=password,
        capabilities=(Capability.FINANCE, Capability.CUSTOMER_CARE),
    )

    def seller(i: int) -> tuple[Any, Any]:
        """A cashier with an open shift at a pay office of their own."""
        point = org.create_vending_point(
            actor=admin, org_unit=centre, name=f"Bench Pay Office {i}", channel=Channel.PAY_OFFICE
        )
        cashier = identity.create_user(
            actor=admin,
            username=f"bench.cashier{i}",
            full_name=f"Bench Cashier {i}",
            org_unit=centre,
            role=Role.OPERATOR,
            password=password,
            capabilities=(Capability.CASHIER,),
        )
        open_shift(actor=cashier, vending_point=point, opening_float=Money.from_major("0", "KES"))
        return cashier, point

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
    numbers, meter_ids = [], []
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
        meter_ids.append(meter.pk)
    cashier, point = seller(0)
    # A bank selling from its prefunded float: no shift, every sale draws on one float account.
    bank = org.create_vending_point(
        actor=admin, org_unit=centre, name="Bench Bank", channel=Channel.BANK
    )
    bank.uses_float = True
    bank.save(update_fields=["uses_float"])
    top_up_float(
        actor=maker,
        vending_point=bank,
        amount=Money.from_major("1000000000", "KES"),
        reference="bench-prefunding",
    )
    return {
        "float_point": bank,
        "cashier": cashier,
        "point": point,
        "supervisor": supervisor,
        # Concurrent workers' own cashiers and points (random meters, one hot meter).
        "sellers": [seller(i + 1) for i in range(sellers)],
        "numbers": numbers,
        "meter_ids": meter_ids,
        "tender": Money.from_major("500", "KES"),
    }


# --- the concurrent runs: N forked processes per level, released together -----------------------


@dataclass
class _Report:
    """What one worker process of a level did."""

    sold: int = 0
    retries: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_sale_id: int | None = None
    cpu: float = 0.0
    end: float = 0.0
    crash: str = ""


def _retryable(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("locked", "deadlock", "could not serialize", "busy"))


def _attempt(action: Callable[[], Any], report: _Report, is_db_error: type[BaseException]) -> Any:
    """Run one sale, again after a lock conflict (counted); a sale that fails is counted too."""
    for tries in range(MAX_RETRIES + 1):
        try:
            result = action()
        except is_db_error as exc:
            if _retryable(exc) and tries < MAX_RETRIES:
                report.retries += 1
                continue
            report.errors[f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"] += 1
        except Exception as exc:
            report.errors[f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"] += 1
        else:
            report.sold += 1
            return result
        report.failed += 1
        return None
    return None


# A job prepares in its own process (connects, reads what it needs) and returns what to time.
_Job = Callable[[], Callable[[_Report], None]]


def _child(job: _Job, barrier: Any, queue: Any) -> None:
    report = _Report()
    try:
        run = job()
        barrier.wait()
        cpu = time.process_time()
        run(report)
        report.cpu = time.process_time() - cpu
        report.end = time.monotonic()
    except BaseException:
        barrier.abort()
        report.crash = traceback.format_exc()
    queue.put(report)


def _run_level(jobs: list[_Job]) -> dict[str, Any]:
    """Fork one process per job, release them together, and add up what they did."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(jobs) + 1, timeout=BARRIER_SECONDS)
    queue = ctx.Queue()
    processes = [ctx.Process(target=_child, args=(job, barrier, queue)) for job in jobs]
    for process in processes:
        process.start()
    with contextlib.suppress(Exception):  # a worker failed to start; its report says why
        barrier.wait()
    start = time.monotonic()
    reports: list[_Report] = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    crashed = [r.crash for r in reports if r.crash]
    if crashed:
        raise RuntimeError("a benchmark process failed:\n" + crashed[0])
    sold = sum(r.sold for r in reports)
    wall = max(r.end for r in reports) - start
    errors: Counter[str] = Counter()
    for r in reports:
        errors.update(r.errors)
    return {
        "sold": sold,
        "per_s": sold / wall if wall > 0 else 0.0,
        "retries": sum(r.retries for r in reports),
        "failed": sum(r.failed for r in reports),
        "errors": dict(errors),
        "cpu_ms_per_vend": sum(r.cpu for r in reports) * 1000 / sold if sold else float("nan"),
        "last_sale_ids": [r.last_sale_id for r in reports],
    }


def _shares(total: int, n: int) -> list[int]:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def _concurrent(
    world: dict[str, Any], url: str, vendor: str, *, sales: int, levels: list[int], template: int
) -> list[dict[str, Any]]:
    from django.db import connections

    runs: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        for n in levels:
            tag = f"{len(runs) + 1:03d}"
            hot_meter = workload == "one hot meter"
            if workload == "one hot seller":
                sellers = [(world["cashier"], world["point"])] * n
            elif workload == "one hot float":
                sellers = [(world["cashier"], world["float_point"])] * n
            else:
                sellers = world["sellers"][:n]
            # Forked children must not share the parent's connection.
            connections.close_all()
            service = _run_level(
                [
                    _service_job(
                        world,
                        seller=sellers[w],
                        hot=hot_meter,
                        share=share,
                        seed=len(runs) * 100 + w,
                        tag=f"c{tag}-{w}",
                    )
                    for w, share in enumerate(_shares(sales, n))
                ]
            )
            service_sales = service.pop("last_sale_ids")
            floor = _run_level(
                [
                    _floor_job(
                        vendor,
                        url,
                        template=service_sales[w] or template,
                        meter_ids=world["meter_ids"][:1] if hot_meter else world["meter_ids"],
                        share=share,
                        seed=len(runs) * 100 + w,
                        tag=f"F{tag}{w:02d}",
                    )
                    for w, share in enumerate(_shares(sales, n))
                ]
            )
            floor.pop("last_sale_ids")
            runs.append({"workload": workload, "n": n, "service": service, "floor": floor})
            print(
                f"{vendor} {workload} N={n}: {service['per_s']:.0f} vends/s, "
                f"floor {floor['per_s']:.0f}/s",
                file=sys.stderr,
            )
    return runs


def _service_job(
    world: dict[str, Any], *, seller: tuple[Any, Any], hot: bool, share: int, seed: int, tag: str
) -> _Job:
    def prepare() -> Callable[[_Report], None]:
        from django.db import OperationalError, connection

        from gridvend.vending import services as vending

        connection.ensure_connection()
        cashier, point = seller
        numbers = world["numbers"]
        rng = random.Random(seed)

        def run(report: _Report) -> None:
            for i in range(share):
                number = numbers[0] if hot else rng.choice(numbers)
                sale = partial(
                    vending.vend_credit,
                    actor=cashier,
                    vending_point=point,
                    client_reference=f"{tag}-{i}",
                    meter_number=number,
                    tender=world["tender"],
                )
                result = _attempt(sale, report, OperationalError)
                if result is not None:
                    report.last_sale_id = result.sale.pk
            connection.close()

        return run

    return prepare


def _floor_job(
    vendor: str, url: str, *, template: int, meter_ids: list[int], share: int, seed: int, tag: str
) -> _Job:
    def prepare() -> Callable[[_Report], None]:
        writer = _FloorWriter(vendor, url, template)
        rng = random.Random(seed)

        def run(report: _Report) -> None:
            for i in range(share):
                meter_id = rng.choice(meter_ids)
                _attempt(partial(writer.write, f"{tag}{i:08d}", meter_id), report, writer.errors)
            writer.db.conn.close()

        return run

    return prepare


# --- the floor: the same writes with the bare driver --------------------------------------------


class _Sql:
    """Just enough of two DB-API drivers: placeholders, RETURNING and JSON values."""

    def __init__(self, vendor: str, url: str) -> None:
        self.vendor = vendor
        if vendor == "sqlite":
            import sqlite3

            # The same busy timeout as the application's connections (gridvend.configuration).
            self.conn: Any = sqlite3.connect(urlsplit(url).path, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.row_factory = sqlite3.Row
            from gridvend.audit.chain import sha256_hex

            # What every gridvend connection registers (gridvend.audit.apps).
            self.conn.create_function("sha256_hex", 1, sha256_hex, deterministic=True)
            self.mark = "?"
            self.begin = "BEGIN IMMEDIATE"
        else:
            import psycopg
            from psycopg.rows import dict_row

            self.conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
            self.mark = "%s"
            self.begin = "BEGIN"

    def one(self, sql: str, *params: Any) -> dict[str, Any]:
        rows = self.conn.execute(sql.replace("?", self.mark), params).fetchall()
        return dict(rows[0])

    def all(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql.replace("?", self.mark), params).fetchall()]

    def execute(self, sql: str, *params: Any) -> None:
        self.conn.execute(sql.replace("?", self.mark), params)

    def json(self, value: Any) -> Any:
        """A JSON column's value as read back, ready to be written again."""
        if self.vendor != "sqlite" and isinstance(value, dict | list):
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return value

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


class _FloorWriter:
    """Writes copies of a real sale's rows, one transaction each, locking what a sale locks: the
    meter first (its TIDs), a float's kept balance through the postings' trigger (a till, revenue
    and tax keep none), the audit head last."""

    def __init__(self, vendor: str, url: str, template_sale_id: int) -> None:
        self.db = db = _Sql(vendor, url)
        if vendor == "sqlite":
            import sqlite3

            self.errors: type[Exception] = sqlite3.OperationalError
        else:
            import psycopg

            self.errors = psycopg.OperationalError
        self.sale = db.one("SELECT * FROM vending_sale WHERE id = ?", template_sale_id)
        self.tokens = db.all("SELECT * FROM vending_token WHERE sale_id = ?", template_sale_id)
        self.entry = db.one(
            "SELECT * FROM ledger_journalentry WHERE id = ?", self.sale["journal_entry_id"]
        )
        self.postings = db.all(
            "SELECT p.amount_minor, p.currency, a.code FROM ledger_posting p "
            "JOIN ledger_account a ON a.id = p.account_id WHERE p.entry_id = ? ORDER BY p.id",
            self.entry["id"],
        )
        # As ledger.services posts them: one INSERT, accounts found by code, in code order; the
        # database's trigger moves the kept balances (a float's), no other account row.
        row = (
            "(CAST(? AS integer), CAST(? AS varchar(80)), CAST(? AS bigint), CAST(? AS varchar(3)))"
        )
        self.postings_sql = " ".join(
            (
                "INSERT INTO ledger_posting (entry_id, account_id, amount_minor, currency)",
                "SELECT CAST(? AS bigint), a.id, v.column3, v.column4 FROM (VALUES",
                ", ".join([row] * len(self.postings)),
                ") AS v JOIN ledger_account a ON a.code = v.column2 AND a.currency = v.column4",
                "ORDER BY a.code, v.column1",
            )
        )
        self.event = db.one(
            "SELECT * FROM audit_auditevent WHERE target_type = 'vending.sale' AND target_id = ?",
            str(template_sale_id),
        )

    def write(self, reference: str, meter_id: int) -> None:
        from gridvend.audit import services as audit_services
        from gridvend.audit.streams import stream_of

        db = self.db
        digest = secrets.token_hex(32)
        db.execute(db.begin)
        try:
            last_tid = db.one(
                "UPDATE meters_meter SET last_tid = COALESCE(last_tid, 0) + ? WHERE id = ? "
                "RETURNING last_tid",
                len(self.tokens),
                meter_id,
            )["last_tid"]
            entry_id = db.insert(
                "ledger_journalentry", {**self.entry, "memo": f"floor {reference}"}
            )
            lines = [
                value
                for n, p in enumerate(self.postings)
                for value in (n, p["code"], p["amount_minor"], p["currency"])
            ]
            db.execute(self.postings_sql, entry_id, *lines)
            sale_id = db.insert(
                "vending_sale",
                {
                    **self.sale,
                    "reference": reference,
                    "client_reference": f"floor-{reference}",
                    "meter_id": meter_id,
                    "journal_entry_id": entry_id,
                },
            )
            for k, token in enumerate(self.tokens):
                tid = last_tid - len(self.tokens) + 1 + k
                db.insert(
                    "vending_token", {**token, "sale_id": sale_id, "meter_id": meter_id, "tid": tid}
                )
            # The audit event last, in the one statement gridvend appends with (the stream's
            # head taken and moved, the link hashed by the database), to the meter's stream.
            event = {
                **self.event,
                "target_id": str(sale_id),
                "occurred_at": (
                    datetime.now(UTC) if db.vendor != "sqlite" else self.event["occurred_at"]
                ),
            }
            values = [db.json(event[name]) for name in audit_services.FIELDS]
            db.one(
                audit_services.APPEND_SQL[db.vendor].replace("%s", "?"),
                *audit_services.append_params(
                    db.vendor, stream=stream_of(meter_id), content=digest, values=values
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.vendor != "sqlite" or db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise


def _floor(
    vendor: str, url: str, template_sale_id: int, sales: int, meter_ids: list[int], *, run_tag: str
) -> float:
    """Write ``sales`` copies of a real sale's rows, one transaction each; returns seconds."""
    writer = _FloorWriter(vendor, url, template_sale_id)
    start = time.perf_counter()
    for i in range(sales):
        writer.write(f"{run_tag}{i:08d}", meter_ids[i % len(meter_ids)])
    elapsed = time.perf_counter() - start
    writer.db.conn.close()
    return elapsed


if __name__ == "__main__":
    main()
