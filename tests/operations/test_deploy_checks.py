"""`gridvend check --deploy` (issue 19 point 4): each production setting left out makes the
command fail with its own id, and a complete production configuration passes."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.utils import timezone

from gridvend.jobs import queue
from gridvend.jobs import services as jobs
from gridvend.jobs.models import WorkerHeartbeat
from gridvend.operations.apps import BACKUP_JOB, BACKUP_SCHEDULE

pytestmark = pytest.mark.django_db

PRODUCTION = {
    "SECRET_KEY": "q8Jv1-Zk2Lm3Np4Qr5St6Uv7Wx8Yz9Ab0Cd1Ef2Gh3Ij4Kl5Mn6Op7",
    "MASTER_KEY": bytes(range(1, 33)),
    "INSECURE_MASTER_KEY": False,
    "DEBUG": False,
    "DEMO_MODE": False,
    "ALLOWED_HOSTS": ["vend.utility.example"],
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_SSL_REDIRECT": True,
    "REQUIRE_ADMIN_TOTP": True,
    "BACKUP_KEY": bytes(range(101, 133)),
    "BACKUP_CRON": "15 1 * * *",
    "WALLET_SANDBOX": False,
}


@pytest.fixture(autouse=True)
def _no_async_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for their process (tests/browser/conftest.py);
    # in the same xdist worker Django's own deploy check would then fail on it (async.E001).
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)


@pytest.fixture
def production(settings: Any) -> Any:
    """The complete production configuration, a worker beating and the nightly backup written
    in the schedule table, as a running deployment has them."""
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    jobs.beat(name="checks-host:4242")
    queue.ensure_schedule(BACKUP_SCHEDULE, BACKUP_JOB, cron="15 1 * * *")
    return settings


def _ids() -> set[str]:
    return {
        message.id
        for message in run_checks(include_deployment_checks=True)
        if message.id and message.id.startswith("gridvend.")
    }


def _sqlite() -> set[str]:
    # SQLite is a warning, never an error: the suite's own database decides whether it shows.
    return {"gridvend.W002"} if connection.vendor == "sqlite" else set()


def test_a_complete_production_configuration_passes(production: Any) -> None:
    assert _ids() == _sqlite()
    out = io.StringIO()
    call_command("check", deploy=True, stdout=out, stderr=io.StringIO())
    assert "gridvend.E" not in out.getvalue()


def _fails_with(code: str) -> None:
    assert code in _ids()
    with pytest.raises(SystemCheckError, match=code.replace(".", r"\.")):
        call_command("check", deploy=True, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize(
    "key",
    [
        "too-short-but-random-0c1d2e",
        "a" * 60,
        "insecure-development-key-do-not-use-in-production-0123456789",
        "django-insecure-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
        "CHANGE-ME-50-random-characters-and-then-some-more-to-pass-length",
    ],
)
def test_a_short_or_public_secret_key_fails(production: Any, key: str) -> None:
    production.SECRET_KEY = key
    _fails_with("gridvend.E001")


def test_the_demo_master_key_fails(production: Any) -> None:
    production.INSECURE_MASTER_KEY = True
    _fails_with("gridvend.E002")


def test_the_demo_master_key_given_explicitly_fails(production: Any) -> None:
    production.MASTER_KEY = production.DEMO_MASTER_KEY
    _fails_with("gridvend.E002")


@pytest.mark.parametrize("switch", ["DEBUG", "DEMO_MODE"])
def test_debug_or_demo_fails(production: Any, switch: str) -> None:
    setattr(production, switch, True)
    _fails_with("gridvend.E003")


@pytest.mark.parametrize("hosts", [[], ["*"], ["vend.utility.example", "*"]])
def test_allowed_hosts_empty_or_wildcard_fails(production: Any, hosts: list[str]) -> None:
    production.ALLOWED_HOSTS = hosts
    _fails_with("gridvend.E004")


def test_loopback_hosts_only_is_a_warning(production: Any) -> None:
    production.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
    assert _ids() == {"gridvend.W001"} | _sqlite()
    call_command("check", deploy=True, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize("cookie", ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"])
def test_cookies_without_tls_fail(production: Any, cookie: str) -> None:
    setattr(production, cookie, False)
    _fails_with("gridvend.E005")


@pytest.mark.parametrize("seconds", [0, 3600])
def test_hsts_off_or_short_fails(production: Any, seconds: int) -> None:
    production.SECURE_HSTS_SECONDS = seconds
    _fails_with("gridvend.E006")


def test_plain_http_answered_fails(production: Any) -> None:
    production.SECURE_SSL_REDIRECT = False
    _fails_with("gridvend.E007")


def test_administrators_without_second_factor_fails(production: Any) -> None:
    production.REQUIRE_ADMIN_TOTP = False
    _fails_with("gridvend.E008")


def test_sqlite_is_a_warning_and_postgresql_passes(production: Any) -> None:
    assert ("gridvend.W002" in _ids()) is (connection.vendor == "sqlite")


def test_no_worker_fails(production: Any) -> None:
    jobs.stop_beating(name="checks-host:4242")
    _fails_with("gridvend.E009")


def test_a_stale_worker_heartbeat_fails(production: Any) -> None:
    production.WORKER_STALE_SECONDS = 120
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=121))
    _fails_with("gridvend.E009")
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=100))
    assert "gridvend.E009" not in _ids()


def test_no_backup_key_fails(production: Any) -> None:
    production.BACKUP_KEY = b""
    _fails_with("gridvend.E010")


def test_an_invalid_backup_cron_fails(production: Any) -> None:
    production.BACKUP_CRON = "every night"
    _fails_with("gridvend.E011")


def test_a_backup_schedule_never_written_fails(production: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=BACKUP_SCHEDULE).delete()
    _fails_with("gridvend.E012")


def test_a_backup_schedule_on_another_cron_fails(production: Any) -> None:
    production.BACKUP_CRON = "30 2 * * *"
    _fails_with("gridvend.E012")


@pytest.mark.parametrize(
    "token", ["CHANGE-ME-at-least-32-characters", "change-me-0123456789abcdefghijklmnop"]
)
def test_a_placeholder_metrics_token_fails(production: Any, token: str) -> None:
    production.METRICS_TOKEN = token
    _fails_with("gridvend.E014")


def test_a_generated_metrics_token_and_a_private_network_pass(production: Any) -> None:
    production.METRICS_TOKEN = "q8Jv1Zk2Lm3Np4Qr5St6Uv7Wx8Yz9Ab0Cd"
    production.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "fd00::/8", "192.0.2.7", "10.0.0.0/9"]
    assert _ids() == _sqlite()


@pytest.mark.parametrize(
    "networks",
    [
        ["0.0.0.0/0"],
        ["10.0.0.0/8", "::/0"],
        ["::ffff:0:0/96"],
        # Every address in pieces: halves as VPN routes write them, quarters, IPv6 halves.
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1", "10.0.0.0/8"],
        ["::/1", "8000::/1"],
    ],
)
def test_metrics_open_to_every_address_fails(production: Any, networks: list[str]) -> None:
    production.METRICS_ALLOWED_IPS = networks
    _fails_with("gridvend.E015")


def test_the_hsm_engine_without_its_pin_or_module_fails_and_with_them_passes(
    production: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    production.TOKEN_ENGINE = "pkcs11"
    production.HSM_PKCS11_MODULE = str(tmp_path)  # a folder, not the library
    production.HSM_TOKEN_LABEL = "gridvend"
    production.HSM_PIN_ENV = "GRIDVEND_DEPLOY_CHECK_PIN"
    monkeypatch.setenv("GRIDVEND_DEPLOY_CHECK_PIN", "1234")
    _fails_with("gridvend.E016")
    library = tmp_path / "libvendor-pkcs11.so"
    library.write_bytes(b"\x7fELF")
    production.HSM_PKCS11_MODULE = str(library)
    monkeypatch.delenv("GRIDVEND_DEPLOY_CHECK_PIN", raising=False)
    _fails_with("gridvend.E016")
    monkeypatch.setenv("GRIDVEND_DEPLOY_CHECK_PIN", "1234")
    assert _ids() == _sqlite()


def test_the_wallet_sandbox_left_on_is_an_error(production: Any) -> None:
    production.WALLET_SANDBOX = True
    assert _ids() == {"gridvend.E017"} | _sqlite()


def test_a_previous_master_key_left_set_is_a_warning(production: Any) -> None:
    production.MASTER_KEY_PREVIOUS = bytes(range(200, 232))
    assert _ids() == {"gridvend.W003"} | _sqlite()
    call_command("check", deploy=True, stdout=io.StringIO(), stderr=io.StringIO())


def test_a_heartbeat_is_renewed_in_place_and_removed_on_stop() -> None:
    jobs.beat(name="h:1")
    first = WorkerHeartbeat.objects.get(name="h:1")
    jobs.beat(name="h:1")
    again = WorkerHeartbeat.objects.get(name="h:1")
    assert again.started_at == first.started_at
    assert again.seen_at >= first.seen_at
    jobs.stop_beating(name="h:1")
    assert not WorkerHeartbeat.objects.filter(name="h:1").exists()
