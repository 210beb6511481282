"""The national-scale benchmark run end to end on tiny sizes, so that it cannot rot: it loads a
throwaway PostgreSQL database, every page it times answers, and what it loaded holds together
(foreign keys, TIDs, the audit chain checked by the product's own verifier)."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("GRIDVEND_TEST_POSTGRES_URL", "")
CUSTOMERS, SALES = 640, 2000


def _bench() -> Any:
    """The benchmark script as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "scale_bench", ROOT / "benchmarks" / "scale_bench.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


last_page_url = _bench().last_page_url


def test_last_page_is_the_link_marked_last() -> None:
    html = '<a class="page-link" href="?after=abc">Next</a><a href="?before=zz&amp;q=1">Last</a>'
    assert last_page_url("/customers/", html) == "/customers/?before=zz&q=1"


def test_last_page_is_the_highest_page_number_shown() -> None:
    html = '<span>Page 1 of 1,204</span><a href="?q=x&amp;page=2">Next</a>'
    assert last_page_url("/meters/", html) == "/meters/?page=1204"


def test_a_single_page_list_has_no_last_page() -> None:
    assert last_page_url("/debts/", "<table></table>") is None


@pytest.fixture
def throwaway_database() -> Iterator[str]:
    import psycopg

    name = f"scale_smoke_{secrets.token_hex(4)}"
    admin_url = urlunsplit(urlsplit(POSTGRES_URL)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
    env.update({"GRIDVEND_DATABASE_URL": url, "GRIDVEND_DEMO": "1"})
    return env


@pytest.mark.postgres
def test_scale_bench_loads_and_times_every_page(throwaway_database: str, tmp_path: Path) -> None:
    import psycopg

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "scale_bench.py"),
            "--database-url",
            throwaway_database,
            "--customers",
            str(CUSTOMERS),
            "--sales",
            str(SALES),
            "--repeat",
            "1",
            "--sell-seconds",
            "0.5",
            "--whole-export",
        ],
        env=_environment(throwaway_database),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # Every page was timed and answered 200 (the last column of each timed row is its status).
    pages = re.findall(r"^(.{42}) (?:cashier|admin|manager) .*? (\d{3})$", out, re.M)
    names = {name.strip() for name, _ in pages}
    assert len(names) == 27, out
    assert {status for _, status in pages} == {"200"}, out
    # The export saw every customer (the bulk ones and the one the templates were sold to).
    assert f"HTTP 200, {CUSTOMERS + 1:,} rows" in out, out

    with psycopg.connect(throwaway_database) as db:

        def one(sql: str) -> int:
            row = db.execute(sql).fetchone()
            assert row is not None
            return int(row[0])

        assert one("SELECT count(*) FROM customers_customer") == CUSTOMERS + 1
        # The bulk sales are the closed shifts' (the services' sales are in the open one).
        assert (
            one(
                "SELECT count(*) FROM vending_sale WHERE shift_id IN "
                "(SELECT id FROM vending_shift WHERE status = 'closed')"
            )
            == SALES
        )
        # Foreign keys were not checked while loading: every reference must lead somewhere.
        assert (
            one(
                "SELECT count(*) FROM vending_sale s LEFT JOIN meters_meter m ON m.id = s.meter_id "
                "LEFT JOIN vending_shift h ON h.id = s.shift_id "
                "LEFT JOIN ledger_journalentry e ON e.id = s.journal_entry_id "
                "WHERE m.id IS NULL OR h.id IS NULL OR e.id IS NULL "
                "OR s.customer_id <> m.customer_id"
            )
            == 0
        )
        # A sale is at the pay office of its meter's service centre.
        assert (
            one(
                "SELECT count(*) FROM vending_sale s JOIN meters_meter m ON m.id = s.meter_id "
                "JOIN org_vendingpoint p ON p.id = s.vending_point_id "
                "WHERE p.org_unit_id <> m.org_unit_id"
            )
            == 0
        )
        # Each entry balances, and a meter's last TID is at least every TID it was issued.
        assert (
            one(
                "SELECT count(*) FROM (SELECT entry_id FROM ledger_posting GROUP BY entry_id "
                "HAVING sum(amount_minor) <> 0) unbalanced"
            )
            == 0
        )
        assert (
            one(
                "SELECT count(*) FROM vending_token t JOIN meters_meter m ON m.id = t.meter_id "
                "WHERE t.tid > m.last_tid"
            )
            == 0
        )
        # Names in three scripts.
        assert one("SELECT count(*) FROM customers_customer WHERE name ~ '[\u0600-\u06ff]'") > 0
        assert one("SELECT count(*) FROM customers_customer WHERE name ~ '[\u4e00-\u9fff]'") > 0

    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridvend",
            "audit",
            "verify",
            "--no-checkpoint",
            "--checkpoint-file",
            str(tmp_path / "checkpoints"),
        ],
        env=_environment(throwaway_database),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout
