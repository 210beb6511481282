"""What the HTTP benchmarks share: a throwaway PostgreSQL database, the environment of a demo-like
server on it, and ``gridvend serve`` (the production server) started on a free loopback port.

Not a benchmark itself: ``api_bench.py`` and ``cashier_bench.py`` import it (a script's own
folder is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def with_database(url: str, name: str) -> str:
    base, _sep, _old = url.rpartition("/")
    return f"{base}/{name}"


def admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """A new, empty database next to GRIDVEND_BENCH_POSTGRES_URL, dropped afterwards."""
    base = os.environ.get("GRIDVEND_BENCH_POSTGRES_URL", DEFAULT_URL)
    admin_url = with_database(base, "postgres")
    admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(admin_url, f"CREATE DATABASE {name}")
    try:
        yield with_database(base, name)
    finally:
        admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_env(url: str, var_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GRIDVEND_DATABASE_URL=url,
        GRIDVEND_DEMO="1",
        GRIDVEND_REQUIRE_ADMIN_TOTP="false",
        GRIDVEND_VAR_DIR=str(ROOT / "var" / var_name),
        DJANGO_SETTINGS_MODULE="gridvend.settings",
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "gridvend"), "migrate", "--verbosity", "0"], env=env, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not listen on {port}")


@contextlib.contextmanager
def serving(env: dict[str, str], *, workers: int = 0, threads: int = 0) -> Iterator[int]:
    """``gridvend serve`` on a free port (its own defaults unless workers/threads are given);
    yields the port, stops the server afterwards. Its log goes to the var folder."""
    port = free_port()
    command = [str(BIN / "gridvend"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers:
        command += ["--workers", str(workers)]
    if threads:
        command += ["--threads", str(threads)]
    log_path = Path(env["GRIDVEND_VAR_DIR"]) / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            wait_for(port)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=30)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]
