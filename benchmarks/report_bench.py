"""Reports at scale: bulk-load sales with scale_bench's loader into a throwaway PostgreSQL
database, then time the figure reports read from the raw sales (before any fold), the fold of
the daily roll-up, the same reports read from the roll-up, and `gridvend reports verify`.

    .venv/bin/python benchmarks/report_bench.py [--customers 20000] [--sales 200000]
        [--database-url URL] [--keep] [--reuse] [--repeat 3]

Without ``--database-url`` the data goes into database ``report_bench`` created next to
GRIDVEND_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped
at the end unless ``--keep`` (``--reuse`` keeps it and skips loading when it holds the data).
The data is scale_bench's: 1 data centre > 4 regions > 16 business units > 64 service centres,
one pay office each, sales spread over two years. Each report is built by its own builder as the
administrator (the whole tree), median of ``--repeat`` after one warm-up. The abnormal-customers
report (30 days to the last day of sales) is timed read from the sales, rule by rule too, then
the nightly findings snapshot is computed (always, a reused database too: any kept snapshot is
dropped first) and the report and its sales-based rules are timed read from it. The roll-up is
folded by a job, never by the sale, so it adds nothing to a vend; its cost is printed per folded
sale.
Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "report_bench"


def _scale_bench() -> Any:
    spec = importlib.util.spec_from_file_location("scale_bench", HERE / "scale_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(build: Callable[[], Any], repeat: int) -> float:
    build()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        build()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def worker(args: argparse.Namespace) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")
    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    from gridvend.customers.models import Customer

    call_command("migrate", verbosity=0)
    scale = _scale_bench()
    started = time.perf_counter()
    if not (args.reuse and Customer.objects.count() >= args.customers):
        if Customer.objects.exists():
            raise SystemExit("the database already holds customers: give an empty one")
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
            scale._build_world()
        tables: list[tuple[str, float]] = []
        scale.Loader(
            args.url, None, customers=args.customers, sales=args.sales, tables=tables
        ).load()
    load_seconds = time.perf_counter() - started

    from gridvend.identity.models import User
    from gridvend.reports import rollup
    from gridvend.reports.base import REPORTS
    from gridvend.reports.models import SalesDay
    from gridvend.vending.models import Sale

    admin = User.objects.get(username="scale.admin")
    last = Sale.objects.order_by("-business_date").values_list("business_date", flat=True)[0]
    month_start = last.replace(day=1)
    year_start = last - timedelta(days=364)
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "monthly sales per vending point": (
            "sales",
            {"date_from": month_start, "date_to": last, "group": "point"},
        ),
        "yearly sales per region (tree)": (
            "sales",
            {"date_from": year_start, "date_to": last, "group": "tree"},
        ),
        "yearly summary per month, vs last year": (
            "daily-summary",
            {"date_from": year_start, "date_to": last, "group": "month"},
        ),
        "yearly purchases per SGC and TI": (
            "purchases-by-sgc-ti",
            {"date_from": year_start, "date_to": last},
        ),
        "debt collection, year": ("debt-collection", {"date_from": year_start, "date_to": last}),
        # Read from the sales, tokens, shifts and audit rows (no roll-up): both columns alike.
        "reversals and reprints, month": (
            "reversals-and-reprints",
            {"date_from": month_start, "date_to": last},
        ),
        "shift cash-up, month": ("shift-cash-up", {"date_from": month_start, "date_to": last}),
    }

    def run(slug: str, query: dict[str, Any]) -> Callable[[], Any]:
        values = REPORTS[slug].filterset({k: str(v) for k, v in query.items()}).values()
        return lambda: REPORTS[slug].build(admin, values)

    if SalesDay.objects.exists():
        from gridvend.reports.models import RollupWatermark

        SalesDay.objects.all().delete()
        RollupWatermark.objects.all().delete()
    print("timing the reports on the raw sales", file=sys.stderr)
    raw = {name: _timed(run(*case), args.repeat) for name, case in cases.items()}
    print("folding the roll-up", file=sys.stderr)
    started = time.perf_counter()
    folded = rollup.rebuild()
    fold_seconds = time.perf_counter() - started
    print("timing the reports on the roll-up", file=sys.stderr)
    rolled = {name: _timed(run(*case), args.repeat) for name, case in cases.items()}
    started = time.perf_counter()
    differences = rollup.verify()
    verify_seconds = time.perf_counter() - started
    abnormal_figures = _abnormal(admin, last, args.repeat)
    return {
        "sales": Sale.objects.count(),
        "load_seconds": load_seconds,
        "rollup_rows": SalesDay.objects.count(),
        "folded_sales": folded.sales,
        "fold_seconds": fold_seconds,
        "verify_seconds": verify_seconds,
        "differences": len(differences),
        "raw": raw,
        "rolled": rolled,
        "abnormal": abnormal_figures,
    }


def _abnormal(admin: Any, last: Any, repeat: int) -> dict[str, Any]:
    """The abnormal-customers report for the 30 days to the last day of sales, read from the
    sales, then the nightly findings snapshot computed (any kept one is dropped first, so a
    reused database is measured afresh), then the report read from it; and each rule alone."""
    from gridvend.reports import abnormal, abnormal_snapshot
    from gridvend.reports.base import REPORTS
    from gridvend.reports.filters import resolve, today
    from gridvend.reports.models import AbnormalFinding, AbnormalSnapshot

    spec = REPORTS["abnormal-customers"]
    query = {"date_from": last - timedelta(days=abnormal.NORM_DAYS - 1), "date_to": last}
    values = spec.filterset({k: str(v) for k, v in query.items()}).values()
    live_values = values | {abnormal.LIVE: True}
    f = resolve(admin, values)
    days = abnormal.DEFAULT_DAYS
    AbnormalFinding.objects.all().delete()
    AbnormalSnapshot.objects.all().delete()
    print("timing the abnormal customers on the sales", file=sys.stderr)
    live = {
        "whole report": _timed(lambda: spec.build(admin, live_values), repeat),
        "no purchase": _timed(lambda: abnormal.not_buying(f, days), repeat),
        "sudden drop": _timed(lambda: abnormal.dropping(f), repeat),
        "far above the norm": _timed(lambda: abnormal.above_norm(f), repeat),
        "repeated faults": _timed(lambda: abnormal.repeated_faults(f), repeat),
        "readings against sales": _timed(lambda: abnormal.readings_against_sales(f), repeat),
    }
    # The last closed day: a period ending today reads yesterday's snapshot.
    as_of = min(last, today() - timedelta(days=1))
    print(f"computing the findings snapshot as of {as_of}", file=sys.stderr)
    started = time.perf_counter()
    snapshot = abnormal_snapshot.compute(as_of=as_of)
    snapshot_seconds = time.perf_counter() - started
    answer = abnormal.answer_for(f, days, values)
    assert answer.snapshot is not None, "the snapshot does not answer the benchmark's period"
    print("timing the abnormal customers on the snapshot", file=sys.stderr)
    kept = answer.snapshot
    from_snapshot = {
        "whole report": _timed(lambda: spec.build(admin, values), repeat),
        "no purchase": _timed(lambda: abnormal.not_buying_from(kept, f, days), repeat),
        "sudden drop": _timed(lambda: abnormal.dropping_from(kept, f), repeat),
        "far above the norm": _timed(lambda: abnormal.above_norm_from(kept, f), repeat),
    }
    return {
        "as_of": as_of.isoformat(),
        "snapshot_seconds": snapshot_seconds,
        "findings": snapshot.finding_count,
        "live": live,
        "snapshot": from_snapshot,
    }


def _print(result: dict[str, Any]) -> None:
    print(f"sales: {result['sales']:,} (loaded in {result['load_seconds']:.0f} s)")
    per_sale = result["fold_seconds"] / max(result["folded_sales"], 1) * 1e6
    print(
        f"roll-up: {result['rollup_rows']:,} rows; fold of {result['folded_sales']:,} sales "
        f"{result['fold_seconds']:.1f} s ({per_sale:.1f} µs per sale, in the job, not the vend)"
    )
    print(
        f"verify: {result['verify_seconds']:.1f} s, {result['differences']} differences "
        "(roll-up against the raw sales)"
    )
    print(f"{'report':<42} {'raw sales':>12} {'roll-up':>12}")
    for name, seconds in result["raw"].items():
        print(f"{name:<42} {seconds * 1000:>9.0f} ms {result['rolled'][name] * 1000:>9.0f} ms")
    found = result["abnormal"]
    print(
        f"abnormal findings snapshot as of {found['as_of']}: {found['findings']:,} findings, "
        f"computed in {found['snapshot_seconds']:.1f} s (the nightly job)"
    )
    print(f"{'abnormal customers, last 30 days':<42} {'sales':>12} {'snapshot':>12}")
    for name, seconds in found["live"].items():
        snap = found["snapshot"].get(name)
        shown = f"{snap * 1000:>9.0f} ms" if snap is not None else f"{'(live)':>12}"
        print(f"  {name:<40} {seconds * 1000:>9.0f} ms {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--sales", type=int, default=200_000)
    parser.add_argument("--database-url", help="load into this (empty) database; never dropped")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.url = args.worker
        print(json.dumps(worker(args)))
        return
    import psycopg

    admin_url = os.environ.get("GRIDVEND_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    url = args.database_url or urlunsplit(urlsplit(admin_url)._replace(path=f"/{DATABASE}"))
    if not args.database_url:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists and not args.reuse:
                admin.execute(f"DROP DATABASE {DATABASE} WITH (FORCE)")
            if not exists or not args.reuse:
                admin.execute(f"CREATE DATABASE {DATABASE}")
    try:
        command = [sys.executable, __file__, "--worker", url]
        command += ["--customers", str(args.customers), "--sales", str(args.sales)]
        command += ["--repeat", str(args.repeat)] + (["--reuse"] if args.reuse else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
        env.update(
            {"GRIDVEND_DATABASE_URL": url, "GRIDVEND_DEMO": "1", "GRIDVEND_LOG_LEVEL": "ERROR"}
        )
        # The loader writes old sales after a few made now through the services: without a lag
        # the fold takes them all (the lag holds back every id after a young one).
        env["GRIDVEND_REPORT_ROLLUP_LAG_SECONDS"] = "0"
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout)
            raise SystemExit("benchmark worker failed")
        _print(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if not args.database_url and not (args.keep or args.reuse):
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
