"""Handheld terminals against the real terminal gateway over loopback TCP: N enrolled terminals
working at once for a bounded time, then a check that nothing they were told was done is lost or
doubled in the books.

    .venv/bin/python benchmarks/terminal_bench.py [--terminals 200] [--seconds 60]
        [--database-url URL] [--meters 200] [--accounts 100] [--legacy-share 0.1]
        [--max-connections N] [--seed 1]

The database is a throwaway: an SQLite file in a temporary directory by default, or the
PostgreSQL database named by ``--database-url``, which is DROPPED and created again at the start
and dropped at the end (give it a database of its own). It is migrated and given a utility
through the services (the test world: a tree, a vending key, a tariff), ``--meters`` prepaid
meters and ``--accounts`` postpaid accounts in one service centre with one handheld vending
point, and one field agent (who also sells) per terminal with a PIN. The terminals are
registered, assigned and enrolled through the services (the set-up's fast path: enrolment over
the wire is covered by the tests); ``--legacy-share`` of them use 3DES-CBC with CMAC, the rest
AES-256-GCM.

The gateway is the product's own, ``gridvend terminals serve``, in a process of its own on a
free loopback port (GRIDVEND_TERMINALS_MAX_CONNECTIONS from ``--max-connections`` when given;
its log kept in ``var/terminal-bench/gateway.log``, its failures counted in the figures).
Each terminal is a thread of this process speaking the protocol with the simulator's client
library (``gateways.terminals.client``): one short connection per transaction, every frame
encrypted and authenticated under the terminal's own key. A terminal logs its agent in, then,
until the time is up, picks at random: sell prepaid credit (35 %), collect a postpaid payment
(25 %), ask an account's arrears (25 %), the day's totals (10 %) or log in again (5 %), with no
pause between. A sale or collection whose connection fails (no reply, a reset, a timeout) is
sent again with the same order number, as a handheld does, up to three times; one that never got
an answer is "uncertain" and is looked up in the books afterwards.

Printed: transactions per second, latency percentiles overall and by operation, and the answers
that were not ``ok`` by error code. Then the books are checked: every sale and collection a
terminal was told succeeded exists exactly once with its amount and its own journal entry; no
other sale or collection exists at the bench's point beyond the uncertain ones; the tokens
stored are the tokens the terminals printed; each terminal's ``day_totals``, asked at the end,
equals the books (unless the business day changed during the run); every journal entry balances
and every kept balance matches its postings. A difference is printed and the exit status is 1.
Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

PIN = "4821"
# The operations a terminal picks from, and how often.
MIX = (("sell", 35), ("collect", 25), ("arrears", 25), ("day_totals", 10), ("login", 5))
# A sale or collection whose connection failed is sent again (same order) this many times.
ATTEMPTS = 3
# The client's socket timeout for one transaction (connect, send, read the reply).
CLIENT_TIMEOUT = 60.0


# --- the database -------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database(url: str | None, keep: bool) -> Iterator[str]:
    """An SQLite file in a temporary directory, or the PostgreSQL database of ``url`` created
    afresh (dropped first) and dropped at the end unless ``keep``."""
    if not url:
        with tempfile.TemporaryDirectory(prefix="gridvend-terminal-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SystemExit("--database-url takes a postgresql:// URL (SQLite is the default)")
    name = parts.path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit("--database-url must name a database (letters, digits and _)")
    import psycopg

    admin_url = urlunsplit(parts._replace(path="/postgres"))

    def admin(sql: str) -> None:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    try:
        yield url
    finally:
        if not keep:
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def environment(url: str, var_dir: str, max_connections: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
    env.update(
        GRIDVEND_DATABASE_URL=url,
        GRIDVEND_DEMO="1",
        GRIDVEND_LOG_LEVEL="ERROR",
        GRIDVEND_VAR_DIR=var_dir,
        DJANGO_SETTINGS_MODULE="gridvend.settings",
    )
    if max_connections:
        env["GRIDVEND_TERMINALS_MAX_CONNECTIONS"] = str(max_connections)
    return env


# --- the set-up, through the services ----------------------------------------------------------


@dataclass
class Scene:
    point_id: int
    meters: list[str]
    accounts: list[str]
    # terminal id -> (cipher, key hex, key version)
    terminals: dict[str, tuple[str, str, int]]


def _imei(n: int) -> str:
    """14 digits and their Luhn check digit (3GPP TS 23.003)."""
    body = f"35{n:012d}"
    total = 0
    for index, char in enumerate(body):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return body + str((10 - total % 10) % 10)


def set_up(*, terminals: int, meters: int, accounts: int, legacy_share: float) -> Scene:
    from django.test.utils import override_settings

    from gridvend.customers import services as customers
    from gridvend.customers.models import AccountKind
    from gridvend.identity.roles import Capability, Role
    from gridvend.org.models import Channel
    from gridvend.terminals.models import AgentPin, Cipher
    from gridvend.terminals.services import agents, gateway, setup
    from tests import factories
    from tests.world import build_world

    world = build_world()
    centre = world.tree.north_sc
    manager = factories.user(centre, Role.VENDING_POINT_MANAGER)
    point = factories.vending_point(centre, channel=Channel.HANDHELD)
    numbers = [world.add_meter().number for _ in range(meters)]
    postpaid = []
    for _ in range(accounts):
        customer = world.customer(world.add_meter())
        customers.update_customer(
            actor=world.admin, customer=customer, account_kind=AccountKind.POSTPAID
        )
        postpaid.append(customer.account_number)
    # One PIN hash for every agent, made as the product makes it (agents.hash_pin); the agents'
    # web passwords, which the bench never uses, with a cheap hasher (the set-up's fast path:
    # the staff's Argon2 costs up to a second a hash on a busy machine).
    pin_hash = agents.hash_pin(PIN)
    cheap = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    cheap.enable()
    legacy_every = round(1 / legacy_share) if legacy_share > 0 else 0
    keys: dict[str, tuple[str, str, int]] = {}
    for n in range(terminals):
        agent = factories.user(centre, Role.OPERATOR, (Capability.FIELD_AGENT, Capability.CASHIER))
        AgentPin.objects.create(agent=agent, pin_hash=pin_hash)
        cipher = Cipher.DES3_CBC_MAC if legacy_every and n % legacy_every == 0 else Cipher.AES_GCM
        terminal, code = setup.register_terminal(
            actor=manager, terminal_id=f"TB{n:04d}", org_unit=centre, cipher=cipher
        )
        terminal = setup.assign_terminal(
            actor=manager, terminal=terminal, agent=agent, org_unit=centre, vending_point=point
        )
        enrolled, key = gateway.enrol(
            terminal=terminal,
            code=code,
            device=gateway.Device(
                serial_number=f"TB-{n:05d}",
                imsi=f"63902{n:010d}",
                imei=_imei(n),
                app_version="bench-1",
            ),
        )
        keys[enrolled.terminal_id] = (str(cipher), key.hex(), enrolled.key_version)
    cheap.disable()
    return Scene(point_id=point.pk, meters=numbers, accounts=postpaid, terminals=keys)


# --- the gateway --------------------------------------------------------------------------------


@contextlib.contextmanager
def gateway_process(env: dict[str, str], log_path: Path) -> Iterator[int]:
    """``gridvend terminals serve`` on a free loopback port; its port. Stopped with SIGTERM."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [str(BIN / "gridvend"), "terminals", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if "serving" not in line:
                server.kill()
                raise SystemExit(f"the gateway did not start: {line!r} (see {log_path})")
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# --- the terminals ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one terminal saw: each transaction's operation, latency and outcome, and the sales
    and collections it was told succeeded (order -> amount, tokens), or never heard about."""

    terminal_id: str
    device: Any = None
    timings: list[tuple[str, float, str]] = field(default_factory=list)
    sold: dict[str, tuple[int, int]] = field(default_factory=dict)
    collected: dict[str, int] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    retried: int = 0


def _device(scene: Scene, terminal_id: str, port: int) -> Any:
    from gridvend.gateways.terminals import client

    cipher, key_hex, key_version = scene.terminals[terminal_id]
    state = client.TerminalState(
        terminal_id=terminal_id, cipher=cipher, key_hex=key_hex, key_version=key_version
    )
    return client.Terminal("127.0.0.1", port, state, timeout=CLIENT_TIMEOUT)


def _exchange(device: Any, tally: Tally, op: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    """One transaction: the reply when ok, else None (its outcome recorded)."""
    from gridvend.gateways.terminals import client

    began = time.perf_counter()
    try:
        reply = device.login(PIN) if op == "login" else device.request(op, **fields)
    except client.GatewayRefused as exc:
        tally.timings.append((op, time.perf_counter() - began, exc.code))
        return None
    except (OSError, client.NoReply) as exc:
        tally.timings.append((op, time.perf_counter() - began, f"no reply ({type(exc).__name__})"))
        raise _Lost from exc
    tally.timings.append((op, time.perf_counter() - began, ""))
    return reply


class _Lost(Exception):
    """The connection ended without a reply: the gateway may or may not have done it."""


def _with_retries(device: Any, tally: Tally, op: str, fields: dict[str, Any]) -> Any:
    for attempt in range(ATTEMPTS):
        try:
            return _exchange(device, tally, op, fields)
        except _Lost:
            if attempt + 1 < ATTEMPTS:
                tally.retried += 1
                time.sleep(0.2 * (attempt + 1))
    tally.uncertain.add(fields["order"])
    return None


def work(scene: Scene, port: int, ends: float, seed: int, tally: Tally) -> None:
    from gridvend.gateways.terminals import client

    rng = random.Random(seed)
    device = tally.device = _device(scene, tally.terminal_id, port)
    ops = [op for op, _ in MIX]
    weights = [weight for _, weight in MIX]
    with contextlib.suppress(_Lost):
        _exchange(device, tally, "login", {})
    serial = 0
    while time.monotonic() < ends:
        op = rng.choices(ops, weights)[0]
        if not device.state.session and op != "login":
            op = "login"
        try:
            if op == "sell":
                serial += 1
                order = f"S{serial:06d}"
                amount = rng.randrange(50, 2001) * 100
                fields = {
                    "meter_number": rng.choice(scene.meters),
                    "amount_minor": amount,
                    "order": order,
                }
                reply = _with_retries(device, tally, op, fields)
                if reply is not None:
                    tally.sold[order] = (amount, len(reply["tokens"]))
            elif op == "collect":
                serial += 1
                order = f"C{serial:06d}"
                amount = rng.randrange(100, 5001) * 100
                fields = {
                    "account_number": rng.choice(scene.accounts),
                    "amount_minor": amount,
                    "order": order,
                }
                if _with_retries(device, tally, op, fields) is not None:
                    tally.collected[order] = amount
            elif op == "arrears":
                _exchange(device, tally, op, {"account_number": rng.choice(scene.accounts)})
            else:
                _exchange(device, tally, op, {})
        except _Lost:
            continue
        except client.GatewayRefused:
            continue


def run_terminals(scene: Scene, port: int, seconds: float, seed: int) -> tuple[list[Tally], float]:
    ids = sorted(scene.terminals)
    tallies = [Tally(terminal_id) for terminal_id in ids]
    start = threading.Barrier(len(ids) + 1)
    holder: dict[str, float] = {}

    def runner(n: int) -> None:
        start.wait()
        try:
            work(scene, port, holder["ends"], seed * 100_003 + n, tallies[n])
        except Exception as exc:  # shown with the figures, never a silent thread
            tallies[n].timings.append(("crash", 0.0, f"bench error {type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=runner, args=(n,), daemon=True) for n in range(len(ids))]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    holder["ends"] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return tallies, time.monotonic() - began


# --- the figures --------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def report(tallies: list[Tally], wall: float) -> None:
    timings = [t for tally in tallies for t in tally.timings]
    answered = [t for t in timings if not t[2].startswith("no reply")]
    print(
        f"{len(timings):,} transactions in {wall:.1f} s: {len(timings) / wall:.1f} per second "
        f"({len(answered) / wall:.1f} answered, "
        f"{sum(1 for t in timings if not t[2]) / wall:.1f} ok)"
    )
    print(f"{'operation':<11} {'count':>7} {'ok':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for op in [*[op for op, _ in MIX], "all"]:
        rows = [t for t in timings if op in (t[0], "all")]
        latencies = sorted(t[1] for t in rows)
        ok = sum(1 for t in rows if not t[2])
        print(
            f"{op:<11} {len(rows):>7,} {ok:>7,} {percentile(latencies, 0.50) * 1000:>8.1f} "
            f"{percentile(latencies, 0.95) * 1000:>8.1f} {percentile(latencies, 0.99) * 1000:>8.1f}"
        )
    errors = Counter(t[2] for t in timings if t[2])
    if errors:
        print("answers that were not ok, by code:")
        for code, count in errors.most_common():
            print(f"  {code:<40} {count:>7,}")
    else:
        print("answers that were not ok: none")
    retried = sum(tally.retried for tally in tallies)
    uncertain = sum(len(tally.uncertain) for tally in tallies)
    print(f"sent again after a lost reply: {retried}; never answered (uncertain): {uncertain}")


# --- the books ----------------------------------------------------------------------------------


def _day_totals(tallies: list[Tally]) -> dict[str, dict[str, Any]]:
    """Each terminal's own day_totals under its agent's log-in, asked once the run is over
    (eight terminals at a time)."""
    from gridvend.gateways.terminals import client

    found: dict[str, dict[str, Any]] = {}
    pending = list(tallies)
    lock = threading.Lock()

    def asker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                tally = pending.pop()
            try:
                if not tally.device.state.session:
                    tally.device.login(PIN)
                found[tally.terminal_id] = tally.device.request("day_totals")
            except (client.GatewayRefused, client.NoReply, OSError) as exc:
                found[tally.terminal_id] = {"error": str(exc)}

    askers = [threading.Thread(target=asker) for _ in range(8)]
    for thread in askers:
        thread.start()
    for thread in askers:
        thread.join()
    return found


def verify(
    scene: Scene, tallies: list[Tally], totals: dict[str, dict[str, Any]], same_day: bool
) -> list[str]:
    """What does not hold in the books (an empty list when everything does)."""
    from django.db.models import Count

    from gridvend.billing.models import BillPayment
    from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries
    from gridvend.vending.models import Sale, Token

    problems: list[str] = []
    told_sold = {f"{t.terminal_id}:{o}": v for t in tallies for o, v in t.sold.items()}
    told_paid = {f"{t.terminal_id}:{o}": a for t in tallies for o, a in t.collected.items()}
    uncertain = {f"{t.terminal_id}:{o}" for t in tallies for o in t.uncertain}

    sales = list(
        Sale.objects.filter(vending_point_id=scene.point_id).values(
            "pk", "client_reference", "tender_minor", "journal_entry_id", "status"
        )
    )
    per_ref = Counter(s["client_reference"] for s in sales)
    doubled = [ref for ref, n in per_ref.items() if n > 1]
    if doubled:
        problems.append(f"sales stored more than once: {doubled[:5]} ({len(doubled)})")
    stored = {s["client_reference"]: s for s in sales}
    lost = [ref for ref in told_sold if ref not in stored]
    if lost:
        problems.append(f"sales the terminals printed but the books lack: {lost[:5]} ({len(lost)})")
    wrong = [r for r, (a, _) in told_sold.items() if r in stored and stored[r]["tender_minor"] != a]
    if wrong:
        problems.append(f"sales with another amount in the books: {wrong[:5]}")
    ghosts = [ref for ref in stored if ref not in told_sold and ref not in uncertain]
    if ghosts:
        problems.append(f"sales in the books no terminal was told of: {ghosts[:5]} ({len(ghosts)})")
    entries = {s["journal_entry_id"] for s in sales}
    if None in entries or len(entries) != len(sales):
        problems.append("a sale without its own journal entry")
    tokens = dict(
        Token.objects.filter(sale__vending_point_id=scene.point_id)
        .values_list("sale__client_reference")
        .annotate(n=Count("pk"))
    )
    token_diff = [r for r, (_, n) in told_sold.items() if tokens.get(r, 0) != n]
    if token_diff:
        problems.append(f"tokens stored differ from the tokens printed: {token_diff[:5]}")

    payments = list(
        BillPayment.objects.filter(vending_point_id=scene.point_id).values(
            "source_reference", "amount_minor", "journal_entry_id"
        )
    )
    per_receipt = Counter(p["source_reference"] for p in payments)
    doubled = [ref for ref, n in per_receipt.items() if n > 1]
    if doubled:
        problems.append(f"collections stored more than once: {doubled[:5]} ({len(doubled)})")
    kept = {p["source_reference"]: p for p in payments}
    lost = [ref for ref in told_paid if ref not in kept]
    if lost:
        problems.append(f"collections printed but not in the books: {lost[:5]} ({len(lost)})")
    wrong = [r for r, a in told_paid.items() if r in kept and kept[r]["amount_minor"] != a]
    if wrong:
        problems.append(f"collections with another amount in the books: {wrong[:5]}")
    ghosts = [ref for ref in kept if ref not in told_paid and ref not in uncertain]
    if ghosts:
        problems.append(f"collections no terminal was told of: {ghosts[:5]} ({len(ghosts)})")
    entries = {p["journal_entry_id"] for p in payments}
    if None in entries or len(entries) != len(payments):
        problems.append("a collection without its own journal entry")

    if same_day:
        for tally in tallies:
            got = totals.get(tally.terminal_id, {})
            prefix = f"{tally.terminal_id}:"
            sold = [s for r, s in stored.items() if r.startswith(prefix)]
            paid = [p for r, p in kept.items() if r.startswith(prefix)]
            want = (
                len(sold),
                sum(s["tender_minor"] for s in sold),
                len(paid),
                sum(p["amount_minor"] for p in paid),
            )
            seen = tuple(
                got.get(k)
                for k in ("sales_count", "sales_minor", "collections_count", "collections_minor")
            )
            if seen != want:
                problems.append(f"{tally.terminal_id} day_totals {seen} but the books {want}")
    if unbalanced_entries():
        problems.append("journal entries that do not balance")
    mismatches = reconcile_balances()
    if mismatches:
        problems.append(f"kept balances that differ from their postings: {mismatches[:3]}")

    found_uncertain = sum(1 for r in uncertain if r in stored or r in kept)
    print(
        f"books: {len(sales):,} sales ({sum(s['tender_minor'] for s in sales):,} minor), "
        f"{len(payments):,} collections ({sum(p['amount_minor'] for p in payments):,} minor); "
        f"terminals printed {len(told_sold):,} sales "
        f"({sum(a for a, _ in told_sold.values()):,} minor) and {len(told_paid):,} collections "
        f"({sum(told_paid.values()):,} minor); uncertain {len(uncertain)}, of which in the books "
        f"{found_uncertain}"
    )
    return problems


# --- the whole run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--terminals", type=int, default=200, help="terminals at once (200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they work (60)")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL database to DROP, create and use (default: a temporary SQLite file)",
    )
    parser.add_argument("--meters", type=int, default=200, help="prepaid meters sold to (200)")
    parser.add_argument("--accounts", type=int, default=100, help="postpaid accounts (100)")
    parser.add_argument(
        "--legacy-share", type=float, default=0.1, help="share of 3DES terminals (0.1)"
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=0,
        help="the gateway's GRIDVEND_TERMINALS_MAX_CONNECTIONS (its default)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    if not 1 <= args.terminals <= 2000:
        raise SystemExit("--terminals is 1 to 2000")
    if not 0 < args.seconds <= 3600:
        raise SystemExit("--seconds is more than 0 and at most 3600")
    if not (1 <= args.meters <= 100_000 and 1 <= args.accounts <= 100_000):
        raise SystemExit("--meters and --accounts are 1 to 100000")
    if not 0 <= args.legacy_share <= 1:
        raise SystemExit("--legacy-share is 0 to 1")
    if not 0 <= args.max_connections <= 10_000:
        raise SystemExit("--max-connections is 0 (the default) to 10000")

    # The gateway's var folder and log are kept for a look afterwards.
    var_dir = str(ROOT / "var" / "terminal-bench")
    Path(var_dir).mkdir(parents=True, exist_ok=True)
    with throwaway_database(args.database_url or None, args.keep) as url:
        env = environment(url, var_dir, args.max_connections)
        os.environ.update(env)
        backend = url.split(":", 1)[0]
        print(
            f"terminal gateway bench on {backend}: {args.terminals} terminals, {args.seconds:g} s"
        )
        began = time.monotonic()
        subprocess.run([str(BIN / "gridvend"), "migrate", "--verbosity", "0"], env=env, check=True)
        import django

        django.setup()
        from django.db import connections

        from gridvend.ledger.services import today

        scene = set_up(
            terminals=args.terminals,
            meters=args.meters,
            accounts=args.accounts,
            legacy_share=args.legacy_share,
        )
        connections.close_all()
        print(
            f"set-up (migrate, utility, {args.terminals} enrolled terminals): "
            f"{time.monotonic() - began:.0f} s"
        )
        day_before = today()
        with gateway_process(env, Path(var_dir) / "gateway.log") as port:
            tallies, wall = run_terminals(scene, port, args.seconds, args.seed)
            totals = _day_totals(tallies)
        same_day = today() == day_before
        report(tallies, wall)
        problems = verify(scene, tallies, totals, same_day)
        if not same_day:
            print("day_totals not compared: the business day changed during the run")
        log = (Path(var_dir) / "gateway.log").read_text(errors="replace")
        failures = Counter(
            line.strip() for line in log.splitlines() if line and not line[0].isspace()
        )
        print(
            f"gateway log ({var_dir}/gateway.log): "
            + ("; ".join(f"{n} x {line[:100]}" for line, n in failures.most_common(5)) or "empty")
        )
        connections.close_all()
    if problems:
        print("NOT VERIFIED:")
        for problem in problems:
            print(f"  {problem}")
        raise SystemExit(1)
    print("VERIFIED: nothing lost, nothing doubled, the totals match the books")


if __name__ == "__main__":
    main()
