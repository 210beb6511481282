"""The real processes: `gridvend worker` delivers a queued SMS and stops on SIGTERM; `gridvend
serve` answers on a socket with gunicorn and with waitress and stops on a signal; with
--with-worker the worker starts and stops with the server. Each runs against a database file
migrated for the purpose (SQLite pass) or the test database (PostgreSQL pass)."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from gridvend.jobs.models import OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)

GRIDVEND = [sys.executable, "-m", "gridvend"]


def _wait_for(check: Callable[[], object], *, seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url(tmp_path: Path) -> tuple[str, Path | None]:
    """The test database itself on PostgreSQL (this test commits, so other processes see its
    rows); on SQLite, whose test database lives in this process's memory, a fresh file."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        auth = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        return f"postgresql://{auth}@{host}/{db['NAME']}", None
    path = tmp_path / "processes.sqlite3"
    return f"sqlite:///{path}", path


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GRIDVEND_TESTING": "1",
            "GRIDVEND_DATABASE_URL": url,
            "GRIDVEND_VAR_DIR": str(tmp_path / "var"),
            "GRIDVEND_SMS_BACKEND": "file",
            "GRIDVEND_SMS_FILE_DIR": str(tmp_path / "sms"),
            "GRIDVEND_EMAIL_BACKEND": "off",
            "GRIDVEND_LOG_LEVEL": "WARNING",
        }
    )
    return env


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated once for the module; each test works on a copy."""
    folder = tmp_path_factory.mktemp("migrated")
    path = folder / "template.sqlite3"
    env = _env(folder, f"sqlite:///{path}")
    subprocess.run([*GRIDVEND, "migrate", "--verbosity", "0"], env=env, check=True, timeout=600)
    return path


@pytest.fixture
def database(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[dict[str, str], Path | None]:
    url, sqlite_file = _database_url(tmp_path)
    if sqlite_file is not None:
        template: Path = request.getfixturevalue("migrated_file")
        shutil.copyfile(template, sqlite_file)
    return _env(tmp_path, url), sqlite_file


def _statuses(sqlite_file: Path | None) -> list[str]:
    if sqlite_file is None:
        return list(OutboxMessage.objects.values_list("status", flat=True))
    with sqlite3.connect(sqlite_file) as db:
        return [row[0] for row in db.execute("select status from jobs_outboxmessage")]


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def test_the_worker_delivers_a_queued_sms_and_stops_on_sigterm(
    database: tuple[dict[str, str], Path | None], tmp_path: Path
) -> None:
    env, sqlite_file = database
    queued = subprocess.run(
        [*GRIDVEND, "notify", "--sms", "0712 345 678"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert queued.returncode == 0, queued.stderr
    assert _statuses(sqlite_file) == ["pending"]

    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([*GRIDVEND, "worker"], env=env, stdout=log, stderr=log)
    try:
        sms_dir = tmp_path / "sms"
        files = _wait_for(
            lambda: list(sms_dir.glob("*.sms")) if sms_dir.exists() else [],
            seconds=45,
            what="the worker to write the SMS",
        )
        assert isinstance(files, list) and len(files) == 1
        assert "To: +254712345678" in files[0].read_text()
        _wait_for(lambda: _statuses(sqlite_file) == ["sent"], seconds=15, what="the row sent")
    finally:
        code = _stop(worker)
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()
    assert "gridvend worker:" in (tmp_path / "worker.log").read_text()


def _get(port: int, path: str) -> tuple[int, str]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        client.request("GET", path)
        response = client.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        client.close()


def _answering(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_serve_answers_on_a_socket_and_stops_on_sigterm(
    database: tuple[dict[str, str], Path | None], tmp_path: Path, server: str
) -> None:
    env, _sqlite = database
    port = _free_port()
    out = tmp_path / "serve.log"
    with out.open("wb") as log:
        process = subprocess.Popen(
            [*GRIDVEND, "serve", "--port", str(port), "--server", server, "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(lambda: _answering(port), seconds=45, what=f"{server} to listen")
            status, body = _get(port, "/login/")
            assert status == 200
            assert 'name="password"' in body
        finally:
            code = _stop(process)
    text = out.read_text()
    assert code == 0, text
    assert f"({server}" in text
    if server == "gunicorn":
        assert "2 process(es)" in text and '"GET /login/ HTTP/1.1" 200' in text


def test_serve_with_worker_starts_the_worker_and_stops_it_with_the_server(
    database: tuple[dict[str, str], Path | None], tmp_path: Path
) -> None:
    env, _sqlite = database
    port = _free_port()
    out = tmp_path / "demo.log"
    with out.open("wb") as log:
        process = subprocess.Popen(
            [*GRIDVEND, "serve", "--port", str(port), "--workers", "1", "--with-worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(lambda: _answering(port), seconds=45, what="the server to listen")
            line = _wait_for(
                lambda: next(
                    (
                        ln
                        for ln in out.read_text().splitlines()
                        if "worker started beside the server" in ln
                    ),
                    None,
                ),
                seconds=10,
                what="the worker's start",
            )
            worker_pid = int(str(line).rsplit("process ", 1)[1].rstrip(")"))
            os.kill(worker_pid, 0)  # it runs
            assert _get(port, "/login/")[0] == 200
        finally:
            # Ctrl-C in the terminal: SIGINT to the server (the worker has its own session).
            code = _stop(process, signal.SIGINT)
    assert code == 0, out.read_text()
    assert f"gridvend worker (process {worker_pid}) stopped with the server" in out.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)


def test_serve_with_banklink_starts_the_bank_link_and_stops_it_with_the_server(
    database: tuple[dict[str, str], Path | None], tmp_path: Path
) -> None:
    env, _sqlite = database
    port = _free_port()
    out = tmp_path / "demo.log"
    with out.open("wb") as log:
        process = subprocess.Popen(
            [*GRIDVEND, "serve", "--port", str(port), "--workers", "1", "--with-banklink"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(lambda: _answering(port), seconds=45, what="the server to listen")
            line = _wait_for(
                lambda: next(
                    (
                        ln
                        for ln in out.read_text().splitlines()
                        if "banklink started beside the server" in ln
                    ),
                    None,
                ),
                seconds=10,
                what="the bank link's start",
            )
            pid = int(str(line).rsplit("process ", 1)[1].rstrip(")"))
            # No bank link has a port in a fresh database: it says so and waits to be stopped.
            _wait_for(
                lambda: "no enabled bank link has a port" in out.read_text(),
                seconds=30,
                what="the bank link to report its links",
            )
            os.kill(pid, 0)
        finally:
            code = _stop(process, signal.SIGINT)
    text = out.read_text()
    assert code == 0, text
    assert f"gridvend banklink (process {pid}) stopped with the server" in text
    assert "gridvend banklink stopped" in text  # it ended cleanly on SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_serve_with_terminals_starts_the_terminal_gateway_and_stops_it_with_the_server(
    database: tuple[dict[str, str], Path | None], tmp_path: Path
) -> None:
    env, _sqlite = database
    port, gateway_port = _free_port(), _free_port()
    env = {**env, "GRIDVEND_TERMINALS_PORT": str(gateway_port)}
    out = tmp_path / "demo.log"
    with out.open("wb") as log:
        process = subprocess.Popen(
            [*GRIDVEND, "serve", "--port", str(port), "--workers", "1", "--with-terminals"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(lambda: _answering(port), seconds=45, what="the server to listen")
            line = _wait_for(
                lambda: next(
                    (
                        ln
                        for ln in out.read_text().splitlines()
                        if "terminals started beside the server" in ln
                    ),
                    None,
                ),
                seconds=10,
                what="the terminal gateway's start",
            )
            pid = int(str(line).rsplit("process ", 1)[1].rstrip(")"))
            _wait_for(
                lambda: (
                    f"gridvend terminals is serving on 127.0.0.1:{gateway_port}" in out.read_text()
                ),
                seconds=30,
                what="the terminal gateway to listen",
            )
            # It answers a frame it cannot read with its error frame (cipher 0).
            with socket.create_connection(("127.0.0.1", gateway_port), timeout=30) as sock:
                sock.sendall(b"\x00\x05hello")
                reply = sock.recv(4096)
            assert reply[2:4] == b"GT" and b"TERMINAL_FRAME_INVALID" in reply
        finally:
            code = _stop(process, signal.SIGINT)
    text = out.read_text()
    assert code == 0, text
    assert f"gridvend terminals (process {pid}) stopped with the server" in text
    assert "gridvend terminals stopped" in text
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
