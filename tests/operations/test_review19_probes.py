"""Review probes for issue 19 (operations): an attacker's and a careless operator's view of
backups, `check --deploy`, /readyz, request ids in logs and the replica router. Each test fails
while the defect it names is real; one that passes shows the attack does not work."""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client

from gridvend.logs import RequestFilter
from gridvend.operations import backup
from gridvend.routers import ReplicaRouter, report_reads
from gridvend.vending.models import Sale
from tests.operations.test_deploy_checks import _ids, _sqlite, production  # noqa: F401
from tests.reports.support import scene, standard_sales

ROOT = Path(__file__).resolve().parents[2]


def _settings_process(
    env: dict[str, str], code: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """A fresh Python process that reads gridvend's settings from ``env`` and runs ``code``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRIDVEND_")}
    environ.update({"DJANGO_SETTINGS_MODULE": "gridvend.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- check --deploy: insecure settings that pass --------------------------------------------


def _new_ids() -> set[str]:
    return _ids() - _sqlite()


@pytest.mark.django_db
def test_probe_check_deploy_fails_with_the_example_files_metrics_token(production: Any) -> None:  # noqa: F811
    """deploy/gridvend.env.example's placeholder is exactly 32 characters, so settings accept
    it and a copied-but-unedited env file leaves /metrics behind a public token."""
    example = (ROOT / "deploy/gridvend.env.example").read_text()
    [line] = [line for line in example.splitlines() if line.startswith("GRIDVEND_METRICS_TOKEN=")]
    production.METRICS_TOKEN = line.split("=", 1)[1]
    assert len(production.METRICS_TOKEN) >= 32  # what settings accept
    assert _new_ids(), "check --deploy passes with the example file's metrics token"


@pytest.mark.django_db
@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0"])
def test_probe_check_deploy_fails_with_metrics_open_to_every_address(
    production: Any,  # noqa: F811
    network: str,
) -> None:
    production.METRICS_ALLOWED_IPS = [network]
    assert _new_ids(), f"check --deploy passes with GRIDVEND_METRICS_ALLOWED_IPS={network}"


@pytest.mark.django_db
def test_probe_check_deploy_fails_with_the_hsm_engine_and_no_pin(
    production: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GRIDVEND_TOKEN_ENGINE=pkcs11 with the PIN variable unset: every sale is refused
    HSM_UNAVAILABLE, yet the deployment check passes."""
    monkeypatch.delenv("GRIDVEND_REVIEW19_NO_PIN", raising=False)
    production.TOKEN_ENGINE = "pkcs11"
    production.HSM_PKCS11_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
    production.HSM_TOKEN_LABEL = "gridvend"
    production.HSM_PIN_ENV = "GRIDVEND_REVIEW19_NO_PIN"
    assert _new_ids(), "check --deploy passes with the HSM engine and no PIN"


@pytest.mark.django_db
def test_probe_check_deploy_notes_a_previous_master_key_left_set(production: Any) -> None:  # noqa: F811
    """After rotation the old master key must leave every process (docs/operations.md); a
    forgotten GRIDVEND_MASTER_KEY_PREVIOUS keeps a retired, maybe leaked, key able to open
    every vending key. At least a warning is expected."""
    production.MASTER_KEY_PREVIOUS = bytes(range(200, 232))
    assert _new_ids(), "check --deploy says nothing of a previous master key left set"


def test_probe_the_backup_key_may_not_be_the_previous_master_key() -> None:
    """Start-up refuses a backup key equal to the master key, not one equal to the previous
    master key, which the same backups then hold the vending keys sealed under."""
    finished = _settings_process(
        {
            "GRIDVEND_TESTING": "1",
            "GRIDVEND_MASTER_KEY": "11" * 32,
            "GRIDVEND_MASTER_KEY_PREVIOUS": "22" * 32,
            "GRIDVEND_BACKUP_KEY": "22" * 32,
        },
        "import gridvend.settings",
        timeout=60,
    )
    assert finished.returncode != 0, "settings accept GRIDVEND_BACKUP_KEY = the previous master key"


# --- backups ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_probe_a_backup_file_shows_no_sale_in_the_clear(settings: Any, tmp_path: Path) -> None:
    """The header is authenticated but not encrypted: whoever holds the file (off-site copy,
    object storage) reads the latest sale's reference and amount and every table's row count
    without the backup key."""
    settings.BACKUP_KEY = bytes(range(32))
    settings.BACKUP_DIR = tmp_path / "backups"
    standard_sales(scene())
    latest = Sale.objects.order_by("-id").first()
    assert latest is not None
    made = backup.take_backup()
    data = made.path.read_bytes()
    assert latest.reference.encode() not in data, (
        f"the latest sale's reference {latest.reference} is readable without the backup key"
    )


# --- /readyz ----------------------------------------------------------------------------------


def test_probe_readyz_on_sqlite_answers_within_its_limit_while_a_sale_writes(
    tmp_path: Path,
) -> None:
    """On SQLite every connection begins IMMEDIATE (the write lock): /readyz, answered to
    anyone before the host check, then waits for each writer up to the 30-second busy timeout
    instead of GRIDVEND_READYZ_TIMEOUT_SECONDS, and itself takes the write lock each time."""
    database = tmp_path / "ready.sqlite3"
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE held (x INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO held VALUES (1)")
    code = (
        "import json, time, django\n"
        "django.setup()\n"
        "from gridvend.web.monitoring import readiness\n"
        "started = time.monotonic()\n"
        "checks = readiness()\n"
        "print(json.dumps({'took': time.monotonic() - started, 'checks': checks}))\n"
    )
    try:
        try:
            finished = _settings_process(
                {
                    "GRIDVEND_TESTING": "1",
                    "GRIDVEND_DATABASE_URL": f"sqlite:///{database}",
                    "GRIDVEND_READYZ_TIMEOUT_SECONDS": "1",
                },
                code,
                timeout=45,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("readiness() did not answer within 45 s while a writer held SQLite")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    assert lines, finished.stderr[-2000:]
    result = json.loads(lines[-1])
    assert result["took"] < 3, f"readiness took {result['took']:.1f} s with a 1 s limit"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_HOST": "evil.example\r\nX: y"},
        {"HTTP_X_REQUEST_ID": "\n" * 10},
        {"HTTP_AUTHORIZATION": "Bearer " + "x" * 10_000},
        {"QUERY_STRING": "%00=%00&" * 500},
    ],
)
def test_probe_readyz_answers_hostile_requests_without_a_server_error(
    headers: dict[str, str],
) -> None:
    response = Client(raise_request_exception=False).get("/readyz", **headers)  # type: ignore[arg-type]
    assert response.status_code in (200, 503)
    body = json.loads(response.content)
    assert set(body["checks"]) == {"database", "migrations", "worker", "keys"}


# --- request ids and log lines ----------------------------------------------------------------


@pytest.mark.django_db
def test_probe_a_request_id_with_a_trailing_newline_is_replaced_not_a_500() -> None:
    """``_REQUEST_ID.match`` with ``$`` accepts "id\\n": the id reaches the audit context and
    the log line, and setting it as a response header raises BadHeaderError (500)."""
    response = Client(raise_request_exception=False).get(
        "/review19-nowhere", HTTP_X_REQUEST_ID="forged-id\n"
    )
    assert response.status_code != 500, "a request id ending in a newline answered 500"
    assert "\n" not in response.get("X-Request-ID", "")


@pytest.mark.django_db
def test_probe_a_path_cannot_forge_a_line_of_the_plain_log() -> None:
    """The default (plain) log format writes request.path as it came, decoded: %0a in a path
    starts a new, forged log line with any level and request id."""
    configured: dict[str, Any] = django_settings.LOGGING
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(configured["formatters"]["plain"]["format"]))
    handler.addFilter(RequestFilter())
    logger = logging.getLogger("gridvend.requests")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        forged = "2026-01-01 00:00:00,000 ERROR gridvend.keys [lb-1] master key exported"
        Client(raise_request_exception=False).get("/review19%0a" + forged.replace(" ", "%20"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [line for line in stream.getvalue().splitlines() if line]
    assert len(lines) == 1 and not lines[0].startswith("2026-01-01 00:00:00,000 ERROR"), lines


# --- the replica router -----------------------------------------------------------------------


@pytest.mark.django_db
def test_probe_a_report_read_inside_a_write_transaction_stays_on_the_primary(
    settings: Any,
) -> None:
    """A report built inside a transaction that has written (a job, a snapshot) reads from the
    replica, which does not have the rows the transaction wrote and lags the primary."""
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    router = ReplicaRouter()
    with report_reads():
        assert router.db_for_read(Sale) == "replica"  # outside a transaction: as designed
        with transaction.atomic():
            chosen = router.db_for_read(Sale)
    assert chosen == "default", "a read inside a write transaction went to the replica"
    assert router.db_for_write(Sale) == "default"
