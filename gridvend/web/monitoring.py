"""What the load balancer and Prometheus read: ``/healthz`` (the process answers), ``/readyz``
(it can sell: database, migrations, a worker's heartbeat, the vending keys open under the master
key and, under the PKCS#11 engine, in the HSM) and ``/metrics`` (docs/operations.md, "Monitoring").

The probes say "ok" or the name of what failed, never why: an error text could carry a host,
a user name or a key reference.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from gridvend import metrics as counts
from gridvend.jobs import selectors as jobs
from gridvend.keys.crypto import KeyDecryptionFailed
from gridvend.keys.engine import token_engine
from gridvend.keys.errors import (
    HsmKeyMismatch,
    HsmKeyUnsupported,
    HsmUnavailable,
    VendingKeyUnavailable,
)
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import load_vending_key
from gridvend.partners import selectors as partners
from gridvend.partners.models import Partner
from gridvend.web.middleware import client_ip

logger = logging.getLogger("gridvend.monitoring")
Handler = Callable[[HttpRequest], HttpResponse]
PROBES = ("/healthz", "/readyz")


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


# --- readiness --------------------------------------------------------------------------------

_migrated = False


@contextmanager
def _bounded_read() -> Iterator[None]:
    """A read-only stretch of work whose every database wait ends at the readiness time limit.

    PostgreSQL: one transaction, each statement and lock wait cut off at the limit. SQLite: no
    transaction (every gridvend transaction there begins IMMEDIATE, taking the write lock and
    queueing behind each writer for the 30-second busy timeout); in WAL mode an autocommit read
    never waits for a writer, the busy timeout is cut to the limit for the rest (opening the
    file), and ``query_only`` refuses any write. Both are put back afterwards."""
    ms = int(settings.READYZ_TIMEOUT_SECONDS * 1000)
    if connection.vendor != "sqlite":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {ms}")
                cursor.execute(f"SET LOCAL lock_timeout = {ms}")
            yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        row = cursor.fetchone()
        previous = int(row[0]) if row else 0
        cursor.execute(f"PRAGMA busy_timeout = {ms}")
        cursor.execute("PRAGMA query_only = 1")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = 0")
            cursor.execute(f"PRAGMA busy_timeout = {previous}")


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _migrations() -> str:
    global _migrated
    if _migrated:
        # Once applied they stay applied for this code: the graph is read once per process.
        return "ok"
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return "pending"
    _migrated = True
    return "ok"


def _worker() -> str:
    seen = jobs.last_worker_heartbeat()
    if seen is None:
        return "missing"
    if timezone.now() - seen > timedelta(seconds=settings.WORKER_STALE_SECONDS):
        return "stale"
    return "ok"


def _keys() -> str:
    """The first active key opens under the master key; under the PKCS#11 engine (which sells
    with DKGA04 keys only, the first of those) the HSM also answers for it (:func:`_hsm`)."""
    hsm = settings.TOKEN_ENGINE == "pkcs11"
    rows = VendingKeyRecord.objects.filter(is_active=True)
    if hsm:
        rows = rows.filter(dkga="04")
    refs = list(rows.order_by("key_ref").values_list("key_ref", flat=True)[:1])
    if not refs:
        return "missing"
    try:
        load_vending_key(refs[0])
    except (KeyDecryptionFailed, VendingKeyUnavailable):
        return "unreadable"
    return _hsm(refs[0]) if hsm else "ok"


def _hsm(key_ref: str) -> str:
    """The process's HSM engine opens its session and finds the key's object, which answers
    the check stored for it, within the readiness time limit: "hsm" when it cannot (the
    library, token or PIN missing, the HSM down or slow, the object not loaded), "hsm_mismatch"
    when the object is not the stored key or several objects carry its label."""
    from gridvend.keys.hsm import HsmTokenEngine

    engine = token_engine()
    if not isinstance(engine, HsmTokenEngine):
        return "hsm"
    try:
        engine.check_ready(key_ref, timeout=settings.READYZ_TIMEOUT_SECONDS)
    except HsmKeyMismatch:
        return "hsm_mismatch"
    except (HsmUnavailable, HsmKeyUnsupported, VendingKeyUnavailable, KeyDecryptionFailed):
        return "hsm"
    return "ok"


READINESS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("database", _database),
    ("migrations", _migrations),
    ("worker", _worker),
    ("keys", _keys),
)


def readiness() -> dict[str, str]:
    """Each check's state ("ok" or a word for what is wrong), read-only and bounded by
    GRIDVEND_READYZ_TIMEOUT_SECONDS (:func:`_bounded_read`); a check the database could not
    answer is "unavailable" and the rest are not tried."""
    found: dict[str, str] = {}
    try:
        with _bounded_read():
            for name, check in READINESS:
                found[name] = check()
    except DatabaseError as exc:
        logger.warning("readiness: the database did not answer: %s", type(exc).__name__)
        for name, _check in READINESS:
            found.setdefault(name, "unavailable")
    return found


def readyz(request: HttpRequest) -> HttpResponse:
    checks = readiness()
    ready = all(state == "ok" for state in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    response = HttpResponse(
        json.dumps(body), content_type="application/json", status=200 if ready else 503
    )
    response["Cache-Control"] = "no-store"
    return response


class ProbeMiddleware:
    """Answers the probes before anything else: a load balancer asks the backend by its address
    (not an allowed host name) and over plain HTTP (no TLS redirect applies), and a probe needs
    no session, language or CSRF."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in PROBES and request.method in ("GET", "HEAD"):
            return healthz(request) if request.path_info == "/healthz" else readyz(request)
        return self.get_response(request)


# --- metrics ----------------------------------------------------------------------------------


class MetricsMiddleware:
    """Times every request by its URL name (``unresolved`` for a path that names none)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None and match.view_name else "unresolved"
        counts.observe_request(view[:100], request.method or "", time.perf_counter() - started)
        return response


class ScrapeCollector:
    """Gauges read from the database at each scrape, each query bounded: jobs queued, outbox
    messages waiting, the worker heartbeat's age, and the float each partner may still sell
    from (the first GRIDVEND_METRICS_MAX_PARTNERS partners)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "gridvend_jobs_queued", "Jobs waiting in the queue.", value=jobs.queued_job_count()
        )
        yield GaugeMetricFamily(
            "gridvend_outbox_waiting",
            "Outbox messages (SMS, e-mail, advices) waiting or being sent.",
            value=jobs.waiting_outbox_count(),
        )
        seen = jobs.last_worker_heartbeat()
        age = GaugeMetricFamily(
            "gridvend_worker_heartbeat_age_seconds",
            "Seconds since a job worker last wrote its heartbeat (absent: no worker).",
        )
        if seen is not None:
            age.add_metric([], (timezone.now() - seen).total_seconds())
        yield age
        floats = GaugeMetricFamily(
            "gridvend_partner_float_minor",
            "What each partner may still sell, in minor units of its currency.",
            labels=["partner", "currency"],
        )
        chosen = list(Partner.objects.order_by("pk")[: settings.METRICS_MAX_PARTNERS])
        available_by_pk = partners.floats_available(chosen)
        for partner in chosen:
            available = available_by_pk[partner.pk]
            floats.add_metric([partner.code, available.currency], available.minor)
        yield floats


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    address = client_ip(request)
    if settings.METRICS_ALLOWED_IPS and address:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(
            ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_IPS
        )
    return False


def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition: counts of every process on this machine (multiprocess
    mode) or of this one, then the gauges read now. Closed (404) unless a token or addresses
    are configured; 401 for a wrong or missing token."""
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS):
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not _allowed(request):
        response = HttpResponse("Unauthorised.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if settings.METRICS_DIR:
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    now = CollectorRegistry()
    now.register(ScrapeCollector())
    try:
        with _bounded_read():
            body = generate_latest(counted) + generate_latest(now)
    except DatabaseError as exc:
        logger.warning("metrics: the database did not answer: %s", type(exc).__name__)
        body = generate_latest(counted)
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
