"""The multi-process harness: a master and stations (or relays) as separate gridvend installs,
each a real process on a loopback port with a database and a ``GRIDVEND_MASTER_KEY`` of its own,
joined by TCP proxies that a test cuts and restores (a cut link looks to the station exactly as
it would in the field: connections refused, open ones dropped).

- Each install's database is a copy of one migrated template: SQLite files are copied from a
  template migrated once per test session; on PostgreSQL (the master, in the PostgreSQL pass) a
  database is made ``TEMPLATE`` a migrated one, kept between sessions under a name that carries
  the migrations' hash (migrating takes tens of seconds, copying well under one).
- ``Install.gridvend(...)`` runs a management command inside the install, ``Install.python(code)``
  runs Python there (``gridvend shell``) and hands back the JSON of ``result``, ``serve()`` starts
  ``gridvend serve`` (waitress) and waits until it answers, ``stop()``/``kill()`` end it (SIGTERM,
  or SIGKILL: a crash).
- The installs run as production does (no ``GRIDVEND_TESTING``): real keys, real sealing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
RESULT_MARK = "@@gridvend-result@@"
START_SECONDS = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def migrations_hash() -> str:
    """Changes whenever a migration is added or edited (the PostgreSQL template's name)."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "gridvend").glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _clean_env() -> dict[str, str]:
    """The test process's environment without its gridvend, Django and pytest settings: an
    install must not believe it is under test, nor use the test's database."""
    dropped = ("GRIDVEND_", "DJANGO_", "PYTEST_", "PROMETHEUS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def _run(
    args: list[str], env: dict[str, str], *, timeout: float, check: bool
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "gridvend", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"gridvend {' '.join(args[:2])} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


# --- Databases ---------------------------------------------------------------------------------


def _pg_admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _pg_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@dataclass
class Databases:
    """Where installs' databases come from: ``root`` holds the SQLite template and the
    installs' folders; ``postgres_url`` (the test's own PostgreSQL database) names the server on
    which PostgreSQL installs get databases of their own, beside it."""

    root: Path
    postgres_url: str = ""
    _sqlite_template: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sqlite_template(self) -> Path:
        with self._lock:
            if self._sqlite_template is None:
                template = self.root / "template.sqlite3"
                env = _clean_env() | {
                    "GRIDVEND_TESTING": "1",
                    "GRIDVEND_DATABASE_URL": f"sqlite:///{template}",
                    "GRIDVEND_VAR_DIR": str(self.root / "template-var"),
                }
                _run(["migrate", "--verbosity", "0"], env, timeout=600, check=True)
                self._sqlite_template = template
            return self._sqlite_template

    def postgres_template(self) -> str:
        base = urlsplit(self.postgres_url).path.lstrip("/")
        name = f"{base}_proctpl_{migrations_hash()}"
        with self._lock, _pg_admin(self.postgres_url) as admin:
            # xdist workers share this server and this template's name: a session advisory
            # lock makes one of them build it while the others wait (a thread lock would not
            # reach across processes; two builders dropped each other's half-built database).
            admin.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if found is None:
                # Older templates of this test database (other migrations) go first.
                stale = admin.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s",
                    [f"{base}_proctpl_%"],
                ).fetchall()
                for (old,) in stale:
                    admin.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
                building = f"{name}_building"
                admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{building}"')
                env = _clean_env() | {
                    "GRIDVEND_TESTING": "1",
                    "GRIDVEND_DATABASE_URL": _pg_url(self.postgres_url, building),
                    "GRIDVEND_VAR_DIR": str(self.root / "template-var"),
                }
                _run(["migrate", "--verbosity", "0"], env, timeout=900, check=True)
                admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        return name

    def new_postgres(self, label: str) -> str:
        template = self.postgres_template()
        base = urlsplit(self.postgres_url).path.lstrip("/")
        name = f"{base}_proc_{label}_{secrets.token_hex(3)}"
        with _pg_admin(self.postgres_url) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop_postgres(self, name: str) -> None:
        with _pg_admin(self.postgres_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _answers_http(port: int) -> bool:
    request = b"GET /station-api/v1/batches HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            probe.sendall(request)
            return probe.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


# --- Installs ----------------------------------------------------------------------------------


@dataclass
class Install:
    """One gridvend install: its folder, database, master key and (when serving) its process."""

    name: str
    folder: Path
    database_url: str
    env: dict[str, str]
    postgres_name: str = ""
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def gridvend(
        self, *args: str, timeout: float = 180, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``gridvend <args>`` inside this install (its database, its keys)."""
        return _run(list(args), self.env, timeout=timeout, check=check)

    def python(self, code: str, *, timeout: float = 180) -> Any:
        """Run ``code`` in ``gridvend shell`` here; it sets ``result`` (JSON-ready), returned."""
        wrapped = (
            f"result = None\n{code}\nimport json as _j\nprint({RESULT_MARK!r} + _j.dumps(result))"
        )
        done = self.gridvend("shell", "--no-startup", "-c", wrapped, timeout=timeout)
        for line in reversed(done.stdout.splitlines()):
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK) :])
        raise AssertionError(f"no result from {self.name}:\n{done.stdout[-2000:]}")

    def serve(self) -> str:
        """Start ``gridvend serve`` on a loopback port (the same port again after a stop) and
        wait until it answers HTTP."""
        if self.process is not None:
            raise RuntimeError(f"{self.name} is already serving")
        self.port = self.port or free_port()
        log = (self.folder / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gridvend", "serve", "--server", "waitress"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--threads", "4"),
            ],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} stopped at start:\n{self.log()[-3000:]}")
            if _answers_http(self.port):
                return self.url
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not answer in {START_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM (a service manager's stop) and wait."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the power cut, mid-request if it was in one."""
        self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, how)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def log(self) -> str:
        path = self.folder / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""


# --- A link that can be cut --------------------------------------------------------------------


class TcpProxy:
    """A loopback TCP proxy in front of ``target_port``: ``cut()`` closes its listening socket
    and every open connection (the next connection is refused, as when a link is down);
    ``restore()`` listens again on the same port. ``hold_answers()`` lets requests through but
    keeps back what the far side answers (the link dies after the master acted and before the
    station heard), until ``release()`` or ``cut()``; ``hold_answers(to=b"POST /x")`` holds
    only the answers to requests that start so (every request has a connection of its own)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._answers = threading.Event()
        self._answers.set()
        self._hold_to = b""
        self.requests_seen = 0
        self.restore()

    def hold_answers(self, to: bytes = b"") -> None:
        self._hold_to = to
        self._answers.clear()

    def release(self) -> None:
        self._answers.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def restore(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
            except OSError:
                return
            try:
                far = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                near.close()  # the install behind it is down: so is the link
                continue
            far.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    near.close()
                    far.close()
                    return
                self._open.update((near, far))
                self.requests_seen += 1
            head = bytearray()  # the start of the request on this connection
            threading.Thread(target=self._pump, args=(near, far, head, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(far, near, head, True), daemon=True).start()

    def _held(self, head: bytearray) -> bool:
        return not self._answers.is_set() and bytes(head).startswith(self._hold_to)

    def _pump(
        self, source: socket.socket, sink: socket.socket, head: bytearray, answers: bool
    ) -> None:
        try:
            while chunk := source.recv(65536):
                if not answers and len(head) < 256:
                    head.extend(chunk[: 256 - len(head)])
                while answers and self._held(head):
                    self._answers.wait(0.2)
                    if self._listener is None:
                        return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)


# --- The harness a test holds ------------------------------------------------------------------


@dataclass
class Harness:
    """Installs and proxies of one test, all ended (and PostgreSQL databases dropped) after it."""

    root: Path
    databases: Databases
    installs: list[Install] = field(default_factory=list)
    proxies: list[TcpProxy] = field(default_factory=list)

    def install(self, name: str, *, postgres: bool = False) -> Install:
        """A migrated install of its own (SQLite, or PostgreSQL when asked and available)."""
        folder = self.root / name
        folder.mkdir(parents=True)
        pg_name = ""
        if postgres and self.databases.postgres_url:
            pg_name = self.databases.new_postgres(name)
            url = _pg_url(self.databases.postgres_url, pg_name)
        else:
            shutil.copyfile(self.databases.sqlite_template(), folder / "db.sqlite3")
            url = f"sqlite:///{folder / 'db.sqlite3'}"
        env = _clean_env() | {
            "GRIDVEND_DATABASE_URL": url,
            "GRIDVEND_MASTER_KEY": secrets.token_hex(32),
            "GRIDVEND_SECRET_KEY": secrets.token_hex(32),
            "GRIDVEND_VAR_DIR": str(folder / "var"),
            "GRIDVEND_REQUIRE_ADMIN_TOTP": "false",
            "GRIDVEND_WEB_THREADS": "4",
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
        made = Install(name=name, folder=folder, database_url=url, env=env, postgres_name=pg_name)
        self.installs.append(made)
        return made

    def link(self, target: Install) -> TcpProxy:
        """A link to ``target`` that the test can cut (``target`` must be serving, or at least
        have its port chosen: a proxy to a stopped install refuses like a cut one)."""
        target.port = target.port or free_port()
        proxy = TcpProxy(target.port)
        self.proxies.append(proxy)
        return proxy

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.cut()
        for install in self.installs:
            install.stop()
            if install.postgres_name:
                self.databases.drop_postgres(install.postgres_name)


@contextlib.contextmanager
def harness(root: Path, databases: Databases) -> Iterator[Harness]:
    made = Harness(root=root, databases=databases)
    try:
        yield made
    finally:
        made.close()
