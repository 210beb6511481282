"""How long the report renderers take and how much memory they hold, on hand-built results (no
database): the PDF at a few row counts (the figures behind render.PDF_ROW_LIMIT), XLSX, and CSV
through iter_csv at a large row count, with the process's peak RSS before and after.

    GRIDVEND_TESTING=1 .venv/bin/python benchmarks/render_bench.py [--pdf-rows 500,2000]
                                                 [--xlsx-rows 50000] [--csv-rows 200000]

Each PDF and the XLSX is rendered in a child process of its own, so that its peak RSS is its
own. Nothing is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDVEND_TESTING", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")


def _setup() -> None:
    import django

    django.setup()


def _result(rows: int):  # type: ignore[no-untyped-def]
    from gridvend.identity.models import User
    from gridvend.reports.base import CellKind, Column, ReportResult, ReportRow, ReportTable

    columns = [
        Column("unit", "Vending point"),
        Column("count", "Sales", CellKind.INT),
        Column("tender", "Tender", CellKind.MONEY),
        Column("kwh", "kWh", CellKind.KWH),
        Column("at", "Last sale", CellKind.DATETIME),
        Column("share", "Share", CellKind.PERCENT),
        Column("operator", "Operator"),
    ]
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    table_rows = [
        ReportRow(
            {
                "unit": f"Point {n}",
                "count": n,
                "tender": n * 1234,
                "kwh": Decimal(n) / 7,
                "at": at,
                "share": Decimal("1.5"),
                "operator": f"Operator {n % 97}",
            }
        )
        for n in range(rows)
    ]
    return ReportResult(
        slug="bench",
        title="Benchmark",
        generated_at=at,
        generated_by=User(username="bench", full_name="Bench"),
        filters=[("Period", "2026-11")],
        tables=[ReportTable("Points", columns, table_rows, currency="KES")],
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pdf_child(rows: int) -> None:
    _setup()
    from gridvend.reports import render

    render.PDF_ROW_LIMIT = max(render.PDF_ROW_LIMIT, rows)
    report = _result(rows)
    before = _peak_mb()
    started = time.perf_counter()
    body = render.pdf_bytes(report)
    seconds = time.perf_counter() - started
    print(
        f"pdf  rows={rows:>7,}  {seconds:7.2f} s  {seconds / rows * 1000:6.2f} ms/row  "
        f"{len(body) / 1024:8.0f} kB  peak RSS {before:5.0f} -> {_peak_mb():5.0f} MB"
    )


def csv_run(rows: int) -> None:
    _setup()
    from gridvend.reports import render

    report = _result(rows)
    before = _peak_mb()
    started = time.perf_counter()
    size = 0
    for chunk in render.iter_csv(report, language="en"):
        size += len(chunk.encode("utf-8"))
    seconds = time.perf_counter() - started
    print(
        f"csv  rows={rows:>7,}  {seconds:7.2f} s  {seconds / rows * 1e6:6.1f} us/row  "
        f"{size / 1e6:8.1f} MB  peak RSS {before:5.0f} -> {_peak_mb():5.0f} MB "
        "(the result's rows are in memory before the first chunk)"
    )


def xlsx_child(rows: int) -> None:
    _setup()
    from django.utils import translation

    from gridvend.reports import render

    report = _result(rows)
    before = _peak_mb()
    started = time.perf_counter()
    with translation.override("en"):
        body = render.xlsx_bytes(report)
    seconds = time.perf_counter() - started
    print(
        f"xlsx rows={rows:>7,}  {seconds:7.2f} s  {seconds / rows * 1e6:6.1f} us/row  "
        f"{len(body) / 1e6:8.1f} MB  peak RSS {before:5.0f} -> {_peak_mb():5.0f} MB "
        "(write-only workbook; the finished file is held in memory)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pdf-rows", default="500,2000")
    parser.add_argument("--csv-rows", type=int, default=200_000)
    parser.add_argument("--xlsx-rows", type=int, default=50_000)
    parser.add_argument("--child-pdf", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-xlsx", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_pdf:
        pdf_child(args.child_pdf)
        return
    if args.child_xlsx:
        xlsx_child(args.child_xlsx)
        return
    for rows in (int(n) for n in args.pdf_rows.split(",") if n):
        subprocess.run([sys.executable, __file__, "--child-pdf", str(rows)], check=True)
    if args.xlsx_rows:
        subprocess.run([sys.executable, __file__, "--child-xlsx", str(args.xlsx_rows)], check=True)
    csv_run(args.csv_rows)


if __name__ == "__main__":
    main()
