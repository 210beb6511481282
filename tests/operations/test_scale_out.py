"""Beyond one machine (issue 19 point 5), on PostgreSQL: two real web servers (`gridvend serve`,
gunicorn) on two ports against one database sell through both, and a request sent to both
makes one sale; the replica router sends report reads to a second database standing in for a
streaming replica, and never a write."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from django.db import connection

from gridvend.partners import credentials
from gridvend.routers import report_reads
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from tests.partners.support import make_partner
from tests.world import World, build_world

pytestmark = [
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
    pytest.mark.django_db(transaction=True),
]

GRIDVEND = [sys.executable, "-m", "gridvend"]


def _url(name: str) -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answering(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[int]]:
    env = dict(os.environ)
    env.update(
        {
            "GRIDVEND_TESTING": "1",
            "GRIDVEND_DATABASE_URL": _url(connection.settings_dict["NAME"]),
            "GRIDVEND_VAR_DIR": str(tmp_path / "var"),
            "GRIDVEND_LOG_LEVEL": "WARNING",
            "GRIDVEND_SMS_BACKEND": "off",
            "GRIDVEND_EMAIL_BACKEND": "off",
        }
    )
    ports = [_free_port(), _free_port()]
    processes = []
    logs = []
    for n, port in enumerate(ports):
        log = (tmp_path / f"serve-{n}.log").open("wb")
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [*GRIDVEND, "serve", "--port", str(port), "--workers", "1", "--threads", "4"],
                env=env,
                stdout=log,
                stderr=log,
            )
        )
    try:
        deadline = time.monotonic() + 60
        while not all(_answering(port) for port in ports):
            assert time.monotonic() < deadline, "the servers did not start"
            assert all(p.poll() is None for p in processes), "a server stopped"
            time.sleep(0.3)
        yield ports
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def _vend(port: int, key: str, request_id: str, meter: str, minor: int, currency: str) -> Any:
    body = json.dumps(
        {
            "request_id": request_id,
            "meter_number": meter,
            "amount": {"minor": minor, "currency": currency},
        }
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        "/api/v1/vends",
        body=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    status, data = response.status, response.read()
    conn.close()
    return status, json.loads(data)


def _tokens(answer: dict[str, Any]) -> list[str]:
    return [token["token"] for token in answer["sale"]["tokens"]]


def test_two_web_processes_on_one_database_sell_through_both_and_a_request_sells_once(
    two_servers: list[int],
) -> None:
    world: World = build_world()
    partner = make_partner(world, float_major="100000")
    key = credentials.issue_key(actor=world.admin, partner=partner).secret
    first, second = world.add_meter(), world.add_meter()
    price = world.money("300")
    one, two = two_servers

    # A sale through each server.
    a = _vend(one, key, "lb-a", first.number, price.minor, price.currency)
    b = _vend(two, key, "lb-b", second.number, price.minor, price.currency)
    assert a[0] == 201 and b[0] == 201, (a, b)
    assert {s.meter_id for s in Sale.objects.all()} == {first.pk, second.pk}

    # The load balancer retries lb-a on the other server: the same sale, not a new one.
    again = _vend(two, key, "lb-a", first.number, price.minor, price.currency)
    assert again[0] == 200 and again[1]["replayed"]
    assert _tokens(again[1]) == _tokens(a[1])
    assert Sale.objects.filter(meter=first).count() == 1

    # The same new request to both servers at the same moment: one sale.
    answers: list[Any] = []
    gate = threading.Barrier(2)

    def send(port: int) -> None:
        gate.wait()
        answers.append(_vend(port, key, "lb-c", first.number, price.minor, price.currency))

    threads = [threading.Thread(target=send, args=(port,)) for port in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Sale.objects.filter(meter=first).count() == 2
    sold = [answer for status, answer in answers if status in (200, 201)]
    assert sold, answers
    assert all(_tokens(answer) == _tokens(sold[0]) for answer in sold)
    # Every token issued is accepted by the meter once, whichever server made it.
    simulator = world.simulator(first)
    for token in _tokens(a[1]) + _tokens(sold[0]):
        assert simulator.enter(token).accepted


def _sell(world: World, meter: Any, major: str, ref: str) -> None:
    vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money(major),
    )


# --- the replica router -----------------------------------------------------------------------


@pytest.fixture
def stand_in_replica() -> str:
    """A second database with the schema migrated and no rows: what a replica looks like before
    it has caught up. GRIDVEND_TEST_REPLICA_URL names it (default: the test database's name with
    _replica); it is kept between runs and only ever migrated."""
    import psycopg

    url = os.environ.get("GRIDVEND_TEST_REPLICA_URL") or _url(
        f"{connection.settings_dict['NAME']}_replica"
    )
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "GRIDVEND_TESTING": "1", "GRIDVEND_DATABASE_URL": url}
    subprocess.run([*GRIDVEND, "migrate", "--verbosity", "0"], env=env, check=True, timeout=600)
    with psycopg.connect(url, autocommit=True) as replica:
        replica.execute("DELETE FROM jobs_workerheartbeat")
    return url


# Run in a process configured as production is, by GRIDVEND_REPLICA_DATABASE_URL.
PROBE = """
import json
from gridvend.jobs import services
from gridvend.jobs.models import WorkerHeartbeat
from gridvend.identity.models import User
from gridvend.reports.base import REPORTS
from gridvend.routers import report_reads
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from django.http import QueryDict

found = {"default": Sale.objects.count()}
with report_reads():
    found["report_reads"] = Sale.objects.count()
    services.beat(name="written-inside-report-reads:1")
found["beats_default"] = WorkerHeartbeat.objects.using("default").count()
found["beats_replica"] = WorkerHeartbeat.objects.using("replica").count()
admin = User.objects.get(username="__ADMIN__")
spec = REPORTS["sales"]
values = spec.filterset(QueryDict()).values()
found["built"] = repr(spec.build(admin, values).tables)
try:
    found["run"] = repr(spec.run(admin, values).tables)
except Exception as exc:
    found["run"] = getattr(exc, "code", type(exc).__name__)
print(json.dumps(found))
"""


def test_report_reads_go_to_the_replica_and_writes_never(stand_in_replica: str) -> None:
    world = build_world()
    meter = world.add_meter()
    _sell(world, meter, "300", "r-1")
    _sell(world, meter, "200", "r-2")
    env = {
        **os.environ,
        "GRIDVEND_TESTING": "1",
        "GRIDVEND_DATABASE_URL": _url(connection.settings_dict["NAME"]),
        "GRIDVEND_REPLICA_DATABASE_URL": stand_in_replica,
        "GRIDVEND_LOG_LEVEL": "WARNING",
    }
    script = PROBE.replace("__ADMIN__", world.admin.username)
    done = subprocess.run(
        [*GRIDVEND, "shell", "-c", script], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    found = json.loads(done.stdout.decode().strip().splitlines()[-1])
    # The stand-in has the schema and none of the rows: reads inside report_reads come from it.
    assert found["default"] == 2
    assert found["report_reads"] == 0
    # A write inside report_reads still goes to the primary; the replica is never written.
    assert found["beats_default"] == 1
    assert found["beats_replica"] == 0
    # The report as the screens, exports and subscriptions run it reads the replica, where
    # the administrator's organisation unit is not (yet): refused as not found. Built
    # directly, it reads the primary.
    assert found["run"] == "NOT_FOUND"
    assert found["built"].startswith("[")


def test_without_a_replica_report_reads_stay_on_the_default_database() -> None:
    world = build_world()
    meter = world.add_meter()
    _sell(world, meter, "300", "r-3")
    with report_reads():
        assert Sale.objects.count() == 1
