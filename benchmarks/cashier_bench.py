"""Cashier sales per second over HTTP, through the counter screen's own views, with the production
server (``gridvend serve``: gunicorn, its processes and threads by core count) on PostgreSQL, at
1, 4 and 16 cashiers selling at once.

    .venv/bin/python benchmarks/cashier_bench.py [--sales N] [--meters M] [--clients 1,4,16]
                                                 [--workers W] [--threads T]

Loopback only: the server listens on 127.0.0.1 on a free port. A throwaway PostgreSQL database
(``gridvend_cashier_bench``) is created next to GRIDVEND_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), migrated, given a utility (a tariff, a vending key,
``--meters`` meters) and as many cashiers as the largest level, each with a vending point of
their own and an open shift, and dropped at the end.

Each cashier is a thread with its own keep-alive connection and its own signed-in session (made
on the server, past the second factor, as the test suite's sign-in does), doing for each
customer what the screen does: the breakdown (``POST meters/<n>/quote/`` as htmx), the sale
(``POST meters/<n>/sell/`` with the breakdown's hidden fields and the cash received), then the
sale page with its tokens. A sale counts when that page answered 200 with its tokens; anything
else is counted and shown. Latency is that of the whole customer (three requests). Nothing is
asserted about time; the figures are printed, with each level's rate against one cashier's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlencode

from benchserver import ROOT, migrate, percentile, server_env, serving, throwaway_database

DB_NAME = "gridvend_cashier_bench"

SETUP = r"""
import json, sys
import django
django.setup()
from django.conf import settings
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.money import Money
from gridvend.vending.shifts import open_shift
from tests import factories
from tests.signin import signed_in
from tests.world import build_world

meters, cashiers = int(sys.argv[1]), int(sys.argv[2])
world = build_world()
numbers = [world.add_meter().number for _ in range(meters)]
sessions = []
for _ in range(cashiers):
    user = factories.user(world.tree.north_sc, Role.OPERATOR, (Capability.CASHIER,))
    point = factories.vending_point(world.tree.north_sc)
    open_shift(
        actor=user, vending_point=point,
        opening_float=Money.from_major("1000", world.tariff.currency),
    )
    sessions.append(signed_in(user).cookies[settings.SESSION_COOKIE_NAME].value)
print(json.dumps({"meters": numbers, "sessions": sessions,
                  "session_cookie": settings.SESSION_COOKIE_NAME,
                  "csrf_cookie": settings.CSRF_COOKIE_NAME}))
"""

_ALERT = re.compile(r'class="[^"]*(?:alert|invalid-feedback|errorlist)[^"]*"[^>]*>(.*?)</', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


class Cashier:
    """One counter: a keep-alive connection and a session."""

    def __init__(self, port: int, setup: dict[str, Any], session: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        csrf = secrets.token_hex(16)  # a 32-character secret, sent as cookie and header
        self.headers = {
            "Cookie": f"{setup['session_cookie']}={session}; {setup['csrf_cookie']}={csrf}",
            "X-CSRFToken": csrf,
        }

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, *, htmx: bool = False
    ) -> tuple[int, dict[str, str], str]:
        headers = dict(self.headers)
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if htmx:
            headers["HX-Request"] = "true"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    def sell(self, meter: str) -> str:
        """One customer; '' when the sale page showed the tokens, else what went wrong."""
        quote = {"mode": "money", "amount": "300", "payment_method": "cash"}
        status, _headers, page = self.request(
            "POST", f"/cashier/meters/{meter}/quote/", quote, htmx=True
        )
        if status != 200:
            return f"quote {status}"
        form = dict(_HIDDEN.findall(page))
        if "client_reference" not in form:
            return "quote without a sell form"
        form["cash_received"] = "300"
        status, headers, answer = self.request(
            "POST", f"/cashier/meters/{meter}/sell/", form, htmx=True
        )
        target = headers.get("hx-redirect", "")
        if status != 204 or not target:
            # The screen's own sentence, when it answered with one (a refusal shown in the form).
            said = _ALERT.search(answer)
            text = re.sub(r"<[^>]+>", "", said.group(1)) if said else ""
            reason = re.sub(r"\s+", " ", text).strip()
            return f"sell {status}" + (f": {reason[:80]}" if reason else "")
        status, _headers, page = self.request("GET", target)
        if status != 200 or 'id="tokens"' not in page:
            return f"sale page {status}"
        return ""


def _cashier(
    port: int, setup: dict[str, Any], session: str, count: int, seed: int, out: list[Any]
) -> None:
    cashier = Cashier(port, setup, session)
    meters = setup["meters"]
    for n in range(count):
        began = time.perf_counter()
        problem = cashier.sell(meters[(seed * 7919 + n * 31) % len(meters)])
        out.append((problem, time.perf_counter() - began))


def _level(port: int, setup: dict[str, Any], clients: int, sales: int) -> dict[str, Any]:
    share = [sales // clients + (1 if i < sales % clients else 0) for i in range(clients)]
    results: list[list[Any]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_cashier,
            args=(port, setup, setup["sessions"][i], share[i], i, results[i]),
        )
        for i in range(clients)
    ]
    busy_before = _cpu_busy()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    busy = _cpu_busy() - busy_before
    flat = [r for rs in results for r in rs]
    ok = sorted(latency for problem, latency in flat if not problem)
    other: dict[str, int] = {}
    for problem, _latency in flat:
        if problem:
            other[problem] = other.get(problem, 0) + 1
    return {
        "clients": clients,
        "sold": len(ok),
        "per_s": len(ok) / wall if wall else 0.0,
        "p50_ms": statistics.median(ok) * 1000 if ok else 0.0,
        "p99_ms": percentile(ok, 0.99) * 1000,
        "other": other,
        # The machine's CPU in use while the level ran (server, database, this client and
        # anything else), in cores, and per customer served.
        "cores": busy / wall if wall else 0.0,
        "cpu_ms": busy * 1000 / len(ok) if ok else 0.0,
    }


def _cpu_busy() -> float:
    """Seconds of CPU the whole machine has spent busy since boot (Linux /proc/stat: every
    column but idle and iowait), or 0 where there is no /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sales", type=int, default=400, help="customers served per level (400)")
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--workers", type=int, default=0, help="server processes (its default)")
    parser.add_argument("--threads", type=int, default=0, help="threads each (its default)")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",") if x.strip()]
    if not levels or min(levels) < 1 or max(levels) > 256:
        raise SystemExit("--clients takes numbers from 1 to 256")
    with throwaway_database(DB_NAME) as url:
        env = server_env(url, "cashier-bench")
        migrate(env)
        made = subprocess.run(
            [sys.executable, "-c", SETUP, str(args.meters), str(max(levels))],
            env={**env, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
            text=True,
        )
        setup = json.loads(made.stdout.strip().splitlines()[-1])
        with serving(env, workers=args.workers, threads=args.threads) as port:
            _level(port, setup, min(max(levels), 4), 20)  # warm the workers' connections
            rows = [_level(port, setup, n, args.sales) for n in levels]
        log = (ROOT / "var" / "cashier-bench" / "server.log").read_text(errors="replace")
    how = next((line for line in log.splitlines() if "gunicorn" in line or "waitress" in line), "")
    print(f"cashier screen over HTTP on PostgreSQL: {how.strip() or 'gridvend serve'}")
    print(
        f"{'cashiers':>8} {'sales/s':>9} {'x 1':>6} {'p50 ms':>8} {'p99 ms':>8} {'cores':>6}"
        f" {'CPU ms':>7}  other answers"
    )
    single = next((row["per_s"] for row in rows if row["clients"] == 1), 0.0)
    for row in rows:
        ratio = f"{row['per_s'] / single:.2f}" if single else "-"
        other = ", ".join(f"{k}: {v}" for k, v in sorted(row["other"].items())) or "none"
        print(
            f"{row['clients']:>8} {row['per_s']:>9.1f} {ratio:>6} {row['p50_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f} {row['cores']:>6.2f} {row['cpu_ms']:>7.1f}  {other}"
        )


if __name__ == "__main__":
    main()
