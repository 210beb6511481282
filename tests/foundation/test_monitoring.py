"""Health, readiness, metrics and request-id log lines (issue 19 point 4), through real HTTP
requests of Django's test client: the metrics endpoint counts a vend made here, the readiness
probe names what is missing and nothing else, and the request id of a log line is the one on
the audit event the request wrote."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from gridvend.audit.models import AuditEvent
from gridvend.jobs import services as jobs
from gridvend.jobs.models import WorkerHeartbeat
from gridvend.keys.services import forget_cached_keys
from gridvend.logs import JsonFormatter, RequestFilter
from gridvend.partners import credentials
from gridvend.partners.models import Partner
from gridvend.vending.models import Sale
from tests.partners.support import make_partner
from tests.world import World, build_world

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789-abcdefghijklmnop"


@pytest.fixture
def world() -> World:
    return build_world()


def _vend(world: World, partner: Partner, key: str, request_id: str, meter: str, **hdr: str) -> Any:
    amount = world.money("300")
    body = {
        "request_id": request_id,
        "meter_number": meter,
        "amount": {"minor": amount.minor, "currency": amount.currency},
    }
    return Client().post(
        "/api/v1/vends",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **hdr},
    )


def _scrape(settings: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    settings.METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- metrics ----------------------------------------------------------------------------------


def test_the_metrics_endpoint_reports_a_vend_made_in_the_test(world: World, settings: Any) -> None:
    partner = make_partner(world, float_major="1000")
    key = credentials.issue_key(actor=world.admin, partner=partner).secret
    meter = world.add_meter()
    before = _scrape(settings)

    sold = _vend(world, partner, key, "m-1", meter.number)
    assert sold.status_code == 201, sold.content
    replayed = _vend(world, partner, key, "m-1", meter.number)
    assert replayed.status_code == 200
    refused = _vend(world, partner, key, "m-2", "01234567890")
    assert refused.status_code >= 400
    code = refused.json()["error"]["code"]

    after = _scrape(settings)
    point = Sale.objects.get().vending_point
    assert point is not None
    channel = point.channel
    # The replay was answered from the partner's stored answer: no second sale is counted.
    for outcome in ("sold", "refused"):
        grew = _value(after, "gridvend_vends_total", channel=channel, outcome=outcome) - _value(
            before, "gridvend_vends_total", channel=channel, outcome=outcome
        )
        assert grew == 1, outcome
    assert (
        _value(after, "gridvend_refusals_total", channel=channel, code=code)
        - _value(before, "gridvend_refusals_total", channel=channel, code=code)
        == 1
    )
    # What the float holds now, worked out by hand: 1,000 less the one sale of 300.
    left = world.money("700")
    assert _value(
        after, "gridvend_partner_float_minor", partner=partner.code, currency=left.currency
    ) == float(left.minor)
    # The three vends were timed under the API's URL name.
    timed = sum(
        value
        for (name, labels), value in after.items()
        if name == "gridvend_request_seconds_count"
        and dict(labels)["view"].startswith("api-v1:")
        and dict(labels)["method"] == "POST"
    ) - sum(
        value
        for (name, labels), value in before.items()
        if name == "gridvend_request_seconds_count"
        and dict(labels)["view"].startswith("api-v1:")
        and dict(labels)["method"] == "POST"
    )
    assert timed == 3
    assert ("gridvend_jobs_queued", ()) in after
    assert ("gridvend_outbox_waiting", ()) in after


def test_metrics_are_closed_unless_a_token_or_addresses_are_set(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


@pytest.mark.parametrize(
    "header", ["", f"Bearer {TOKEN}x", f"bearer {TOKEN}", TOKEN, "Bearer " + "é" * 40]
)
def test_metrics_without_the_right_token_answer_401(settings: Any, header: str) -> None:
    settings.METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"gridvend_" not in response.content


def test_metrics_by_address_allow_list(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 401
    allowed = Client(REMOTE_ADDR="10.20.30.40").get("/metrics")
    assert allowed.status_code == 200
    assert b"gridvend_jobs_queued" in allowed.content


# --- probes -----------------------------------------------------------------------------------


def test_healthz_answers_whatever_the_host_and_without_tls(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["vend.utility.example"]
    settings.SECURE_SSL_REDIRECT = True
    response = Client(HTTP_HOST="10.9.8.7").get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_readyz_is_ready_with_database_migrations_worker_and_keys(
    world: World, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["vend.utility.example"]
    settings.SECURE_SSL_REDIRECT = True
    jobs.beat(name="probe-host:1")
    response = Client(HTTP_HOST="10.9.8.7").get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "worker": "ok", "keys": "ok"},
    }
    assert response["Cache-Control"] == "no-store"


def test_readyz_names_a_missing_or_stale_worker(world: World, settings: Any) -> None:
    missing = Client().get("/readyz")
    assert missing.status_code == 503
    assert missing.json()["checks"]["worker"] == "missing"
    jobs.beat(name="probe-host:2")
    WorkerHeartbeat.objects.update(
        seen_at=timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS + 1)
    )
    stale = Client().get("/readyz")
    assert stale.status_code == 503
    assert stale.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "worker": "stale",
        "keys": "ok",
    }


def test_readyz_says_keys_unreadable_under_another_master_key_and_shows_nothing_of_them(
    world: World, settings: Any
) -> None:
    jobs.beat(name="probe-host:3")
    settings.MASTER_KEY = bytes(range(7, 39))
    forget_cached_keys()
    try:
        response = Client().get("/readyz")
    finally:
        forget_cached_keys()
    assert response.status_code == 503
    assert response.json()["checks"]["keys"] == "unreadable"
    assert world.key_ref.encode() not in response.content
    assert world.vending_key_hex.encode() not in response.content.lower()


def test_readyz_with_no_vending_key_is_not_ready() -> None:
    jobs.beat(name="probe-host:4")
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["keys"] == "missing"


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_readyz_answers_within_its_time_limit_when_the_database_waits(
    world: World, settings: Any
) -> None:
    """A table the probe reads is locked by another session: the probe gives up at its limit
    and answers 503, rather than hanging the load balancer's check."""
    import psycopg

    settings.READYZ_TIMEOUT_SECONDS = 1
    params = connection.get_connection_params()
    locked = threading.Event()
    release = threading.Event()

    def hold() -> None:
        dsn = {
            k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}
        }
        with psycopg.connect(**dsn) as other, other.transaction():
            other.execute("LOCK TABLE jobs_workerheartbeat IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        started = timezone.now()
        response = Client().get("/readyz")
        took = (timezone.now() - started).total_seconds()
    finally:
        release.set()
        thread.join()
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "unavailable"
    assert took < 10


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_readyz_on_sqlite_reads_only_and_gives_the_connection_back_as_it_was(
    world: World,
) -> None:
    """On SQLite the probe runs with ``query_only`` and its own short busy timeout, then puts
    both back: the connection's next sale may write and wait as long as ever."""
    jobs.beat(name="probe-host:6")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        before = cursor.fetchone()[0]
    assert Client().get("/readyz").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == before == 30_000
        cursor.execute("PRAGMA query_only")
        assert cursor.fetchone()[0] == 0


# --- request ids in logs ----------------------------------------------------------------------


@pytest.fixture
def json_log() -> Any:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestFilter())
    logger = logging.getLogger("gridvend.requests")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_the_request_id_of_the_log_line_is_the_one_on_the_audit_event(
    world: World, json_log: io.StringIO
) -> None:
    partner = make_partner(world, float_major="1000")
    key = credentials.issue_key(actor=world.admin, partner=partner).secret
    meter = world.add_meter()
    response = _vend(world, partner, key, "log-1", meter.number)
    assert response.status_code == 201, response.content
    sale = Sale.objects.get()
    event = AuditEvent.objects.get(target_type="vending.sale", target_id=str(sale.pk))
    [line] = [line for line in _lines(json_log) if line["path"] == "/api/v1/vends"]
    assert line["request_id"] == event.request_id == response["X-Request-ID"]
    assert len(event.request_id) == 32
    assert line["status"] == 201 and line["method"] == "POST"
    assert line["level"] == "INFO" and line["logger"] == "gridvend.requests"


def test_a_well_formed_proxy_request_id_is_kept_and_a_hostile_one_replaced(
    world: World, json_log: io.StringIO, settings: Any
) -> None:
    # The test client's address stands for nginx, the trusted proxy that sets the header.
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    partner = make_partner(world, float_major="1000")
    key = credentials.issue_key(actor=world.admin, partner=partner).secret
    first, second = world.add_meter(), world.add_meter()
    kept = _vend(world, partner, key, "log-2", first.number, **{"X-Request-ID": "lb-7f3a.91_x"})
    hostile = 'bad id"}\n{"level":"ERROR"' + "x" * 80
    replaced = _vend(world, partner, key, "log-3", second.number, **{"X-Request-ID": hostile})
    assert kept["X-Request-ID"] == "lb-7f3a.91_x"
    assert replaced["X-Request-ID"] != hostile and len(replaced["X-Request-ID"]) == 32
    ids = {e.request_id for e in AuditEvent.objects.filter(target_type="vending.sale")}
    assert ids == {"lb-7f3a.91_x", replaced["X-Request-ID"]}
    logged = [line["request_id"] for line in _lines(json_log)]
    assert logged == ["lb-7f3a.91_x", replaced["X-Request-ID"]]


def test_json_lines_outside_a_request_and_with_an_exception() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestFilter())
    logger = logging.getLogger("gridvend.test-json")
    logger.addHandler(handler)
    try:
        logger.warning("line one\nline two «ß»", extra={"meter": "0123"})
        try:
            raise ValueError("broken")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = _lines(stream)
    assert first["message"] == "line one\nline two «ß»"
    assert first["request_id"] == "-" and first["meter"] == "0123"
    assert "ValueError: broken" in second["exception"]
    assert len(stream.getvalue().splitlines()) == 2
