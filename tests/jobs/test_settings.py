"""Settings of the worker, the outbox, notifications and the web server: sane defaults, and a bad
value stops the start with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridvend.configuration import (
    ConfigurationError,
    email_settings,
    environment,
    http_url,
    job_cluster,
    web_server,
)


def test_the_cluster_defaults_follow_the_database() -> None:
    sqlite = job_cluster(environment({}), sqlite=True, time_zone="Africa/Nairobi")
    assert (sqlite["workers"], sqlite["orm"], sqlite["ack_failures"]) == (1, "default", False)
    assert sqlite["retry"] == sqlite["timeout"] + 60
    assert sqlite["time_zone"] == "Africa/Nairobi"
    postgres = job_cluster(
        environment({"GRIDVEND_JOB_WORKERS": "4"}), sqlite=False, time_zone="UTC"
    )
    assert postgres["workers"] == 4 and postgres["queue_limit"] == 8


@pytest.mark.parametrize(
    ("values", "sqlite", "message"),
    [
        ({"GRIDVEND_JOB_WORKERS": "2"}, True, "GRIDVEND_JOB_WORKERS must be 1 on SQLite"),
        ({"GRIDVEND_JOB_WORKERS": "33"}, False, "at most 32"),
        ({"GRIDVEND_JOB_WORKERS": "0"}, False, "at least 1"),
        (
            {"GRIDVEND_JOB_TIMEOUT_SECONDS": "300", "GRIDVEND_JOB_RETRY_SECONDS": "300"},
            False,
            "GRIDVEND_JOB_RETRY_SECONDS must be more than",
        ),
        ({"GRIDVEND_JOB_MAX_ATTEMPTS": "1000"}, False, "at most 100"),
    ],
)
def test_a_bad_cluster_setting_is_refused(
    values: dict[str, str], sqlite: bool, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        job_cluster(environment(values), sqlite=sqlite, time_zone="UTC")


def test_the_web_server_defaults_to_gunicorn_with_a_capped_worker_count() -> None:
    assert web_server(environment({}), cpu_count=2).workers == 5
    assert web_server(environment({}), cpu_count=64).workers == 12
    web = web_server(environment({"GRIDVEND_WEB_SERVER": "waitress"}), cpu_count=2)
    assert (web.server, web.threads) == ("waitress", 8)
    given = web_server(environment({"GRIDVEND_WEB_WORKERS": "3", "GRIDVEND_WEB_THREADS": "2"}))
    assert (given.server, given.workers, given.threads) == ("gunicorn", 3, 2)
    with pytest.raises(ConfigurationError, match="gunicorn or waitress"):
        web_server(environment({"GRIDVEND_WEB_SERVER": "uwsgi"}))
    with pytest.raises(ConfigurationError, match="at most 64"):
        web_server(environment({"GRIDVEND_WEB_WORKERS": "65"}))


def test_email_settings_choose_a_django_backend(tmp_path: Path) -> None:
    smtp = email_settings(
        environment(
            {
                "GRIDVEND_EMAIL_BACKEND": "smtp",
                "GRIDVEND_EMAIL_HOST": "mail.utility.example",
                "GRIDVEND_EMAIL_USE_TLS": "true",
                "GRIDVEND_EMAIL_FROM": "Power Co <vend@utility.example>",
            }
        ),
        default_backend="off",
        var_dir=tmp_path,
    )
    assert smtp.enabled and smtp.backend.endswith("smtp.EmailBackend")
    assert (smtp.host, smtp.port, smtp.use_tls) == ("mail.utility.example", 587, True)
    off = email_settings(environment({}), default_backend="off", var_dir=tmp_path)
    assert not off.enabled and off.file_dir == tmp_path / "email"
    for values, message in (
        ({"GRIDVEND_EMAIL_BACKEND": "pigeon"}, "off, console, file or smtp"),
        ({"GRIDVEND_EMAIL_USE_TLS": "1", "GRIDVEND_EMAIL_USE_SSL": "1"}, "cannot both"),
        ({"GRIDVEND_EMAIL_FROM": "nobody"}, "not an e-mail address"),
        ({"GRIDVEND_EMAIL_HOST": "mail host"}, "not a host name"),
        ({"GRIDVEND_EMAIL_PORT": "70000"}, "at most 65535"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            email_settings(environment(values), default_backend="off", var_dir=tmp_path)


def test_a_gateway_url_must_be_http() -> None:
    env = environment({"U": "file:///etc/passwd"})
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        http_url(env, "U", "https://x.example")
    assert http_url(environment({}), "U", "https://api.example/v1") == "https://api.example/v1"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"GRIDVEND_SMS_BACKEND": "pigeon"}, "GRIDVEND_SMS_BACKEND must be off, console"),
        (
            {"GRIDVEND_SMS_BACKEND": "africastalking"},
            "needs GRIDVEND_SMS_AT_USERNAME and GRIDVEND_SMS_AT_API_KEY",
        ),
        (
            {"GRIDVEND_SMS_TIMEOUT_SECONDS": "400"},
            "GRIDVEND_OUTBOX_LEASE_SECONDS must be more than twice",
        ),
        ({"GRIDVEND_EXPORT_NICE": "20"}, "GRIDVEND_EXPORT_NICE must be at most 19"),
        ({"GRIDVEND_EXPORT_NICE": "-5"}, "GRIDVEND_EXPORT_NICE must be at least 0"),
    ],
    ids=["unknown-backend", "no-credentials", "lease-too-short", "nice-too-high", "nice-negative"],
)
def test_bad_notification_settings_stop_the_start(values: dict[str, str], message: str) -> None:
    env = {**os.environ, "GRIDVEND_TESTING": "1", **values}
    done = subprocess.run(
        [sys.executable, "-m", "gridvend", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
