"""Credit vends per second through the partner API over HTTP, with the production server
(``gridvend serve``: gunicorn) on PostgreSQL, at 1, 8 and 32 concurrent clients, beside the
same sales made through the service layer in process.

    .venv/bin/python benchmarks/api_bench.py [--sales N] [--meters M] [--clients 1,8,32]
                                             [--workers W]

Loopback only: the server listens on 127.0.0.1 on a free port. A throwaway PostgreSQL database
(``gridvend_api_bench``) is created next to GRIDVEND_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), migrated, given a utility (a tariff, a vending key,
``--meters`` meters, a bank partner with a float that covers every sale and an API key), and
dropped at the end. Each client is a thread with its own keep-alive HTTP connection, sending
``POST /api/v1/vends`` for random meters with fresh request ids; latency is measured per request
from send to the end of the response. Every answer must be 201: any other is counted and shown.
Nothing is asserted about time; the figures are printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from benchserver import (
    ROOT,
    migrate,
    percentile,
    server_env,
    serving,
    throwaway_database,
)

DB_NAME = "gridvend_api_bench"


SETUP = r"""
import json, sys, time
import django
django.setup()
from gridvend.kernel.money import Money
from gridvend.partners import credentials
from gridvend.partners import services as partners
from tests.world import build_world

meters = int(sys.argv[1])
service_sales = int(sys.argv[2])
world = build_world()
partner_model = __import__("tests.partners.support", fromlist=["make_partner"])
partner = partner_model.make_partner(world, code="bench-bank", float_major="900000000")
numbers = [world.add_meter().number for _ in range(meters)]
key = credentials.issue_key(
    actor=world.admin, partner=partner, rate_limit_per_minute=100_000
).secret
call = partners.Call(partner=partner, interface="api")
started = time.perf_counter()
for n in range(service_sales):
    partners.purchase(call, f"svc-{n}", numbers[n % len(numbers)], tender=world.money("300"))
elapsed = time.perf_counter() - started
print(json.dumps({"key": key, "meters": numbers, "currency": world.tariff.currency,
                  "service_per_s": service_sales / elapsed if elapsed else 0.0}))
"""


def _client(
    port: int, key: str, meters: list[str], currency: str, count: int, out: list[Any]
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    rng = random.Random()
    for _ in range(count):
        body = json.dumps(
            {
                "request_id": uuid.uuid4().hex,
                "meter_number": rng.choice(meters),
                "amount": {"minor": 30000, "currency": currency},
            }
        )
        began = time.perf_counter()
        conn.request("POST", "/api/v1/vends", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        out.append((response.status, time.perf_counter() - began))


def _level(port: int, setup: dict[str, Any], clients: int, sales: int) -> dict[str, Any]:
    share = [sales // clients + (1 if i < sales % clients else 0) for i in range(clients)]
    results: list[list[Any]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_client,
            args=(port, setup["key"], setup["meters"], setup["currency"], share[i], results[i]),
        )
        for i in range(clients)
    ]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    flat = [r for rs in results for r in rs]
    ok = [latency for status, latency in flat if status == 201]
    bad: dict[int, int] = {}
    for status, _latency in flat:
        if status != 201:
            bad[status] = bad.get(status, 0) + 1
    ok.sort()
    return {
        "clients": clients,
        "sold": len(ok),
        "per_s": len(ok) / wall if wall else 0.0,
        "p50_ms": statistics.median(ok) * 1000 if ok else 0.0,
        "p99_ms": percentile(ok, 0.99) * 1000,
        "other": bad,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=600, help="sales per level (600)")
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--workers", type=int, default=0, help="server processes (2 × cores)")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",") if x.strip()]
    workers = args.workers or 2 * (os.cpu_count() or 1)
    with throwaway_database(DB_NAME) as url:
        env = server_env(url, "api-bench")
        migrate(env)
        made = subprocess.run(
            [sys.executable, "-c", SETUP, str(args.meters), str(min(args.sales, 300))],
            env={**env, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
            text=True,
        )
        setup = json.loads(made.stdout.strip().splitlines()[-1])
        with serving(env, workers=workers) as port:
            _level(port, setup, 1, 20)  # warm every worker's connection and caches
            rows = [_level(port, setup, n, args.sales) for n in levels]
    print(f"partner API on PostgreSQL, gunicorn with {workers} workers, {os.cpu_count()} cores")
    print(
        f"service layer in process (partners.purchase, sequential): "
        f"{setup['service_per_s']:.0f} vends/s"
    )
    print(f"{'clients':>8} {'vends/s':>9} {'p50 ms':>8} {'p99 ms':>8}  other answers")
    for row in rows:
        other = ", ".join(f"{k}: {v}" for k, v in sorted(row["other"].items())) or "none"
        print(
            f"{row['clients']:>8} {row['per_s']:>9.0f} {row['p50_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f}  {other}"
        )


if __name__ == "__main__":
    main()
