"""Large report exports: bulk-load sales with scale_bench's loader into a throwaway PostgreSQL
database, then export the sales journal of the whole period to CSV and to XLSX through the real
export job (``gridvend.exports.tasks.run_export``, as "My exports" queues it), each in a child
process of its own, and print the rows written, the seconds, the file's size, and the process's
resident memory: its peak (``resource.getrusage``) before the export, after about 100,000 rows
and at the end, so that a flat line shows the file streams.

    .venv/bin/python benchmarks/export_bench.py [--customers 20000] [--sales 1000000]
        [--database-url URL] [--keep] [--reuse]

The big run (``--sales 1000000``) is the figure issue 13 asks for; ``--sales 20000`` proves the
benchmark works in a minute. Without ``--database-url`` the data goes into database
``export_bench`` created next to GRIDVEND_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end unless ``--keep``
(``--reuse`` keeps it and skips loading when it holds the data). Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "export_bench"
SOURCE = "report-sales-journal"
# Where the memory is read on the way: about this many rows into the file.
SAMPLE_ROWS = 100_000


def _scale_bench() -> Any:
    spec = importlib.util.spec_from_file_location("scale_bench", HERE / "scale_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")
    django.setup()


def load(args: argparse.Namespace) -> dict[str, Any]:
    _setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    from gridvend.customers.models import Customer
    from gridvend.vending.models import Sale

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if not (args.reuse and Customer.objects.count() >= args.customers):
        if Customer.objects.exists():
            raise SystemExit("the database already holds customers: give an empty one")
        scale = _scale_bench()
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
            scale._build_world()
        tables: list[tuple[str, float]] = []
        scale.Loader(
            args.url, None, customers=args.customers, sales=args.sales, tables=tables
        ).load()
    return {"sales": Sale.objects.count(), "load_seconds": time.perf_counter() - started}


def export(fmt: str) -> dict[str, Any]:
    """One export of the whole period's journal, written by the job in this process."""
    _setup()
    from django.db.models import Max, Min

    from gridvend.exports import services, tasks
    from gridvend.exports.models import Export
    from gridvend.exports.selectors import export_directory
    from gridvend.identity.models import User
    from gridvend.vending.models import Sale

    admin = User.objects.get(username="scale.admin")
    span = Sale.objects.aggregate(first=Min("business_date"), last=Max("business_date"))
    filters = {"date_from": span["first"].isoformat(), "date_to": span["last"].isoformat()}
    samples: list[tuple[int, float, float]] = []
    recorded = services.record_export_progress

    def sampled(export_id: int, rows: int, *, run_token: Any) -> bool:
        if not samples or (samples[-1][0] < SAMPLE_ROWS <= rows):
            samples.append((rows, _current_mb(), _peak_mb()))
        return recorded(export_id, rows, run_token=run_token)

    services.record_export_progress = sampled
    before = _peak_mb()
    queued = services.request_export(actor=admin, source=SOURCE, filters=filters, format=fmt)
    started = time.perf_counter()
    tasks.run_export(queued.pk)
    seconds = time.perf_counter() - started
    done = Export.objects.get(pk=queued.pk)
    path = export_directory(done.pk) / done.file_name
    return {
        "format": fmt,
        "status": done.status,
        "error": done.error_code,
        "rows": done.rows_written,
        "seconds": seconds,
        "size_mb": path.stat().st_size / 1e6 if done.file_name else 0.0,
        "peak_before_mb": before,
        "samples": samples,
        "peak_mb": _peak_mb(),
        "current_mb": _current_mb(),
    }


def _print(loaded: dict[str, Any], results: list[dict[str, Any]]) -> None:
    print(f"sales: {loaded['sales']:,} (loaded in {loaded['load_seconds']:.0f} s)")
    for r in results:
        if r["status"] != "done":
            print(f"{r['format']}: {r['status']} {r['error']}")
            continue
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        print(
            f"{r['format'].upper():>4}: {r['rows']:,} rows in {r['seconds']:.1f} s "
            f"({rate:,.0f} rows/s), {r['size_mb']:.1f} MB; peak RSS {r['peak_before_mb']:.0f} MB "
            f"before the export, {r['peak_mb']:.0f} MB at the end"
        )
        for rows, current, peak in r["samples"]:
            print(f"      at {rows:>9,} rows: RSS {current:.0f} MB, peak {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="load into this (empty) database; never dropped")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--export", metavar="FORMAT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        args.url = args.load
        print(json.dumps(load(args)))
        return
    if args.export:
        print(json.dumps(export(args.export)))
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
    export_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"{DATABASE}-files"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
    env.update(
        {
            "GRIDVEND_DATABASE_URL": url,
            "GRIDVEND_DEMO": "1",
            "GRIDVEND_LOG_LEVEL": "ERROR",
            "GRIDVEND_EXPORT_DIR": str(export_dir),
            "GRIDVEND_EXPORT_PROGRESS_ROWS": "10000",
            # The job writes in a thread niced to take only idle CPU; measured here at the
            # normal priority, so that the figure is the writing's, not the machine's load.
            "GRIDVEND_EXPORT_NICE": "0",
        }
    )

    def child(*extra: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, __file__, *extra], env=env, stdout=subprocess.PIPE, text=True
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout)
            raise SystemExit("benchmark worker failed")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    try:
        loaded = child(
            "--load",
            url,
            "--customers",
            str(args.customers),
            "--sales",
            str(args.sales),
            *(["--reuse"] if args.reuse else []),
        )
        # Each export in a process of its own: its peak RSS is the export's, not the loader's.
        results = [child("--export", fmt) for fmt in ("csv", "xlsx")]
        _print(loaded, results)
    finally:
        shutil.rmtree(export_dir, ignore_errors=True)
        if not args.database_url and not (args.keep or args.reuse):
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
