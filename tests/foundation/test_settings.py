"""The typed settings layer refuses bad configuration at start-up with the variable's name."""

from pathlib import Path

import pytest

from gridvend.configuration import (
    ConfigurationError,
    database_from_url,
    environment,
    session_limits,
)


def test_bad_boolean_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="GRIDVEND_DEBUG"):
        environment({"GRIDVEND_DEBUG": "maybe"}).get_bool("GRIDVEND_DEBUG", False)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="time zone"):
        environment({"GRIDVEND_TIME_ZONE": "Mars/Olympus"}).time_zone("GRIDVEND_TIME_ZONE", "UTC")


def test_currency_must_be_three_letters() -> None:
    env = environment({"GRIDVEND_CURRENCY": "shilling"})
    with pytest.raises(ConfigurationError, match="ISO 4217"):
        env.currency("GRIDVEND_CURRENCY", "KES")
    assert environment({"GRIDVEND_CURRENCY": "ngn"}).currency("GRIDVEND_CURRENCY", "KES") == "NGN"


def test_integer_below_minimum_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        environment({"X": "0"}).get_int("X", 5, minimum=1)
    with pytest.raises(ConfigurationError, match="whole number"):
        environment({"X": "five"}).get_int("X", 5)


def test_postgres_url_becomes_django_database(tmp_path: Path) -> None:
    db = database_from_url("postgresql://vend:s%40cret@db.local:6543/grid", base_dir=tmp_path)
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "grid",
        "vend",
        "s@cret",
        "db.local",
        "6543",
    )


def test_sqlite_url_is_relative_to_base_and_uses_immediate_transactions(tmp_path: Path) -> None:
    db = database_from_url("sqlite:///var/x.sqlite3", base_dir=tmp_path)
    assert db["NAME"] == str(tmp_path / "var" / "x.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert (tmp_path / "var").is_dir()


def test_unsupported_database_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unsupported scheme"):
        database_from_url("mysql://root@localhost/x", base_dir=tmp_path)


def test_production_without_secret_key_refuses_to_start() -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "gridvend.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "GRIDVEND_SECRET_KEY" in result.stderr


def test_sessions_end_after_30_idle_minutes_and_12_hours_by_default() -> None:
    limits = session_limits(environment({}))
    assert (limits.idle_seconds, limits.max_seconds) == (1800, 43200)


def test_the_old_session_seconds_still_sets_the_absolute_lifetime() -> None:
    limits = session_limits(environment({"GRIDVEND_SESSION_SECONDS": "28800"}))
    assert (limits.idle_seconds, limits.max_seconds) == (1800, 28800)
    both = {"GRIDVEND_SESSION_SECONDS": "28800", "GRIDVEND_SESSION_MAX_SECONDS": "36000"}
    assert session_limits(environment(both)).max_seconds == 36000


def test_idle_and_absolute_session_limits_are_separate_settings() -> None:
    env = {"GRIDVEND_SESSION_IDLE_SECONDS": "600", "GRIDVEND_SESSION_MAX_SECONDS": "7200"}
    limits = session_limits(environment(env))
    assert (limits.idle_seconds, limits.max_seconds) == (600, 7200)
    # An idle limit beyond the lifetime means the lifetime.
    longer = {"GRIDVEND_SESSION_IDLE_SECONDS": "9000", "GRIDVEND_SESSION_MAX_SECONDS": "7200"}
    assert session_limits(environment(longer)).idle_seconds == 7200
    with pytest.raises(ConfigurationError, match="GRIDVEND_SESSION_IDLE_SECONDS"):
        session_limits(environment({"GRIDVEND_SESSION_IDLE_SECONDS": "10"}))


def test_default_country_must_be_an_iso_3166_code_with_a_numbering_plan() -> None:
    assert environment({}).country("GRIDVEND_DEFAULT_COUNTRY", "KE") == "KE"
    assert environment({"C": " ng "}).country("C", "KE") == "NG"
    for bad in ("Kenya", "XX", "K", "001", ""):
        with pytest.raises(ConfigurationError, match="ISO 3166"):
            environment({"GRIDVEND_DEFAULT_COUNTRY": bad}).country("GRIDVEND_DEFAULT_COUNTRY", "KE")


def test_an_unknown_default_country_stops_the_start_up() -> None:
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "gridvend.settings",
        "GRIDVEND_TESTING": "1",
        "GRIDVEND_DEFAULT_COUNTRY": "Kenya",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "GRIDVEND_DEFAULT_COUNTRY" in result.stderr


@pytest.mark.parametrize(
    ("worker", "testing", "folder"),
    [
        ("gw3", "1", "var/test-gw3"),  # a parallel test worker: a folder of its own
        ("", "1", "var"),  # one test process
        ("gw3", "", "var"),  # not testing: the variable means nothing
        ("gw3/../../etc", "1", "var"),  # not a worker id: never a path
    ],
)
def test_each_parallel_test_worker_has_a_var_folder_of_its_own(
    tmp_path: Path, worker: str, testing: str, folder: str
) -> None:
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "gridvend.settings",
        "GRIDVEND_SECRET_KEY": "x" * 50,
        "GRIDVEND_MASTER_KEY": "ab" * 32,
        "GRIDVEND_VAR_DIR": str(tmp_path / "var"),
        "GRIDVEND_TESTING": testing,
        "PYTEST_XDIST_WORKER": worker,
    }
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.VAR_DIR); print(settings.AUDIT_CHECKPOINT_FILE); "
        "print(settings.SMS_FILE_DIR)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    var, checkpoints, sms = (Path(line) for line in result.stdout.splitlines())
    assert var == tmp_path / folder
    assert checkpoints.parent == var and sms.parent == var


def _start_up(**variables: str) -> str:
    """The error output of a process that reads the settings with these variables."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "GRIDVEND_TESTING": "1", **variables}
    result = subprocess.run(
        [sys.executable, "-c", "import gridvend.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr if result.returncode else ""


def test_a_previous_master_key_must_be_64_hex_digits_and_not_the_new_one() -> None:
    key = "ab" * 32
    assert "GRIDVEND_MASTER_KEY_PREVIOUS is the same" in _start_up(
        GRIDVEND_MASTER_KEY=key, GRIDVEND_MASTER_KEY_PREVIOUS=key
    )
    assert "GRIDVEND_MASTER_KEY_PREVIOUS must be 64 hexadecimal digits" in _start_up(
        GRIDVEND_MASTER_KEY=key, GRIDVEND_MASTER_KEY_PREVIOUS="cd" * 31
    )
    assert _start_up(GRIDVEND_MASTER_KEY=key, GRIDVEND_MASTER_KEY_PREVIOUS="cd" * 32) == ""


def test_the_pkcs11_engine_needs_its_module_and_token_label() -> None:
    assert "GRIDVEND_HSM_PKCS11_MODULE" in _start_up(GRIDVEND_TOKEN_ENGINE="pkcs11")
    assert "software or pkcs11" in _start_up(GRIDVEND_TOKEN_ENGINE="hsm")
    assert (
        _start_up(
            GRIDVEND_TOKEN_ENGINE="pkcs11",
            GRIDVEND_HSM_PKCS11_MODULE="/usr/lib/softhsm/libsofthsm2.so",
            GRIDVEND_HSM_TOKEN_LABEL="gridvend",
        )
        == ""
    )
