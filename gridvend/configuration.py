"""Typed reading of GRIDVEND_* environment variables that fails fast on bad values."""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gridvend.kernel.inputs import text_problem


class ConfigurationError(Exception):
    """A GRIDVEND_* variable is missing or malformed; the message names it."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Env:
    """A view over an environment mapping with typed getters."""

    values: Mapping[str, str]

    def get_str(self, name: str, default: str) -> str:
        return self.values.get(name, default)

    def get_text(self, name: str, default: str, *, max_length: int) -> str:
        """A short text printed for people (on receipts): trimmed, at most ``max_length``
        characters, without control, bidi-override or invisible characters."""
        value = self.values.get(name, default).strip()
        if len(value) > max_length:
            raise ConfigurationError(f"{name} must be at most {max_length} characters")
        if text_problem(value) is not None:
            raise ConfigurationError(
                f"{name} must not hold control, text-direction or invisible characters"
            )
        return value

    def get_bool(self, name: str, default: bool) -> bool:
        raw = self.values.get(name)
        if raw is None:
            return default
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigurationError(f"{name} must be true or false, not {raw!r}")

    def get_int(self, name: str, default: int, *, minimum: int = 0) -> int:
        raw = self.values.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
        if value < minimum:
            raise ConfigurationError(f"{name} must be at least {minimum}, not {value}")
        return value

    def get_int_map(
        self, name: str, default: Mapping[str, int], *, minimum: int = 0
    ) -> dict[str, int]:
        """``key=number`` pairs separated by commas, over ``default``; only its keys are allowed."""
        result = dict(default)
        raw = self.values.get(name)
        if raw is None:
            return result
        for item in raw.split(","):
            if not item.strip():
                continue
            key, sep, number = item.partition("=")
            key = key.strip()
            if not sep or key not in result:
                known = ", ".join(sorted(result))
                raise ConfigurationError(f"{name}: {item.strip()!r} is not key=number ({known})")
            try:
                value = int(number)
            except ValueError:
                raise ConfigurationError(
                    f"{name}: {key} must be a whole number, not {number.strip()!r}"
                ) from None
            if value < minimum:
                raise ConfigurationError(f"{name}: {key} must be at least {minimum}, not {value}")
            result[key] = value
        return result

    def get_list(self, name: str, default: list[str]) -> list[str]:
        raw = self.values.get(name)
        if raw is None:
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    def time_zone(self, name: str, default: str) -> str:
        value = self.get_str(name, default)
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"{name} is not a known time zone: {value!r}") from None
        return value

    def currency(self, name: str, default: str) -> str:
        value = self.get_str(name, default).strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ConfigurationError(f"{name} must be a three-letter ISO 4217 code, not {value!r}")
        return value

    def country(self, name: str, default: str) -> str:
        """An ISO 3166 alpha-2 country whose phone numbering plan is known (KE, NG, ZA...)."""
        from gridvend.kernel.phones import is_region

        value = self.get_str(name, default).strip().upper()
        if len(value) != 2 or not value.isalpha() or not is_region(value):
            raise ConfigurationError(
                f"{name} must be a two-letter ISO 3166 country code such as KE, not {value!r}"
            )
        return value


@dataclass(frozen=True)
class SessionLimits:
    idle_seconds: int
    max_seconds: int


def session_limits(env: Env) -> SessionLimits:
    """How long a signed-in session lasts: it ends after ``idle_seconds`` without a request, and
    ``max_seconds`` after sign-in whatever happens. GRIDVEND_SESSION_SECONDS, the older name of
    the absolute lifetime, still counts when GRIDVEND_SESSION_MAX_SECONDS is not set."""
    legacy = env.get_int("GRIDVEND_SESSION_SECONDS", 12 * 3600, minimum=60)
    maximum = env.get_int("GRIDVEND_SESSION_MAX_SECONDS", legacy, minimum=60)
    idle = env.get_int("GRIDVEND_SESSION_IDLE_SECONDS", min(30 * 60, maximum), minimum=60)
    return SessionLimits(idle_seconds=min(idle, maximum), max_seconds=maximum)


@dataclass(frozen=True)
class NetworkPrinter:
    """An ESC/POS receipt printer listening for raw print jobs on TCP (usually port 9100)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$")
_POINT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _printer(name: str, text: str) -> NetworkPrinter:
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigurationError(f"{name}: {text.strip()!r} is not host:port") from None
    elif not _HOST.fullmatch(host):
        raise ConfigurationError(f"{name}: {text.strip()!r} is not host:port")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigurationError(f"{name}: {text.strip()!r} needs a port from 1 to 65535")
    return NetworkPrinter(host, int(port_text))


def escpos_printers(env: Env, name: str = "GRIDVEND_ESCPOS_PRINTER") -> dict[str, NetworkPrinter]:
    """The ESC/POS network printers by vending point code; the key "" is the printer of every
    point not named. ``host:port`` alone is that default; ``CODE=host:port`` items, separated
    by commas, name a point's own printer."""
    printers: dict[str, NetworkPrinter] = {}
    for item in env.get_str(name, "").split(","):
        if not item.strip():
            continue
        code, sep, address = item.partition("=")
        if sep:
            code = code.strip()
            if not _POINT_CODE.fullmatch(code):
                raise ConfigurationError(f"{name}: {code!r} is not a vending point code")
        else:
            code, address = "", item
        if code in printers:
            raise ConfigurationError(f"{name}: {code or 'the default printer'} is given twice")
        printers[code] = _printer(name, address)
    return printers


def environment(values: Mapping[str, str] | None = None) -> Env:
    return Env(dict(os.environ if values is None else values))


def database_from_url(url: str, *, base_dir: Path) -> dict[str, Any]:
    """Turn a sqlite:/// or postgresql:// URL into a Django DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = {key: vals[-1] for key, vals in parse_qs(parts.query).items()}
    if scheme == "sqlite":
        raw_path = unquote(parts.path)
        if parts.netloc:
            raise ConfigurationError(
                "GRIDVEND_DATABASE_URL: write sqlite URLs as sqlite:///relative/path.sqlite3 "
                "or sqlite:////absolute/path.sqlite3"
            )
        path = raw_path[1:] if raw_path.startswith("/") else raw_path
        if not path:
            raise ConfigurationError("GRIDVEND_DATABASE_URL: a sqlite URL needs a file path")
        file_path = Path(path) if Path(path).is_absolute() else base_dir / path
        # The embedded database lives under var/, which a fresh clone does not have yet.
        file_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(file_path),
            # IMMEDIATE takes the write lock when a transaction starts, so two sales never
            # read the same state and then both write (SQLite has no row locks).
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if scheme in {"postgres", "postgresql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigurationError(
                "GRIDVEND_DATABASE_URL: a postgresql URL needs a database name"
            )
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "OPTIONS": options,
        }
    raise ConfigurationError(
        f"GRIDVEND_DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)"
    )


def http_url(env: Env, name: str, default: str) -> str:
    """An http(s) URL of a service gridvend calls (an SMS gateway): scheme, host, no spaces."""
    value = env.get_str(name, default).strip()
    parts = urlsplit(value)
    if (
        len(value) > 2000
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 for ch in value)
    ):
        raise ConfigurationError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return value


def job_cluster(env: Env, *, sqlite: bool, time_zone: str) -> dict[str, Any]:
    """django-q2's Q_CLUSTER, as CHANNELS.md §6 asks: the ORM broker on the default database
    (a job enqueued in a transaction commits or rolls back with it), explicit attempts, the
    redelivery delay longer than the longest job, failures kept for retry, one worker process
    on SQLite (one writer at a time; the database settings already wait for the lock)."""
    timeout = env.get_int("GRIDVEND_JOB_TIMEOUT_SECONDS", 300, minimum=10)
    retry = env.get_int("GRIDVEND_JOB_RETRY_SECONDS", timeout + 60, minimum=11)
    if retry <= timeout:
        raise ConfigurationError(
            "GRIDVEND_JOB_RETRY_SECONDS must be more than GRIDVEND_JOB_TIMEOUT_SECONDS "
            f"({timeout}): a job still running would be started a second time"
        )
    workers = env.get_int("GRIDVEND_JOB_WORKERS", 1 if sqlite else 2, minimum=1)
    if sqlite and workers != 1:
        raise ConfigurationError("GRIDVEND_JOB_WORKERS must be 1 on SQLite (one writer at a time)")
    if workers > 32:
        raise ConfigurationError("GRIDVEND_JOB_WORKERS must be at most 32")
    attempts = env.get_int("GRIDVEND_JOB_MAX_ATTEMPTS", 5, minimum=1)
    if attempts > 100:
        raise ConfigurationError("GRIDVEND_JOB_MAX_ATTEMPTS must be at most 100")
    return {
        "name": "gridvend",
        "label": "Jobs",
        # The caller's own connection: a job enqueued inside atomic() is part of the transaction.
        "orm": "default",
        "workers": workers,
        "timeout": timeout,
        "retry": retry,
        "max_attempts": attempts,
        # False: a failed job stays queued and is tried again after `retry` seconds (True would
        # drop it after its first failure).
        "ack_failures": False,
        "save_limit": 250,
        "queue_limit": workers * 2,
        "poll": 0.5,
        "bulk": 1,
        # A worker that was down does not run every missed periodic job on its return: the next
        # run of each catches up (the outbox drain takes everything due).
        "catch_up": False,
        "time_zone": time_zone,
        "recycle": 500,
        # The cluster writes its own status twice a second; it goes to a cache of the process
        # (settings.CACHES["jobs"]), not to the shared one, which may be a database table.
        "cache": "jobs",
    }


@dataclass(frozen=True)
class EmailSettings:
    name: str  # off, console, file or smtp
    enabled: bool
    backend: str
    file_dir: Path
    host: str
    port: int
    user: str
    password: str
    use_tls: bool
    use_ssl: bool
    timeout: int
    from_address: str


_EMAIL_BACKENDS = {
    "off": "django.core.mail.backends.dummy.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}


def email_settings(env: Env, *, default_backend: str, var_dir: Path) -> EmailSettings:
    """Where e-mail goes: GRIDVEND_EMAIL_BACKEND off, console, file (one file per message in
    GRIDVEND_EMAIL_FILE_DIR) or smtp (GRIDVEND_EMAIL_HOST and the rest)."""
    from email.utils import parseaddr

    choice = env.get_str("GRIDVEND_EMAIL_BACKEND", default_backend).strip().lower()
    if choice not in _EMAIL_BACKENDS:
        raise ConfigurationError(
            f"GRIDVEND_EMAIL_BACKEND must be off, console, file or smtp, not {choice!r}"
        )
    use_tls = env.get_bool("GRIDVEND_EMAIL_USE_TLS", False)
    use_ssl = env.get_bool("GRIDVEND_EMAIL_USE_SSL", False)
    if use_tls and use_ssl:
        raise ConfigurationError(
            "GRIDVEND_EMAIL_USE_TLS (STARTTLS) and GRIDVEND_EMAIL_USE_SSL cannot both be true"
        )
    port = env.get_int("GRIDVEND_EMAIL_PORT", 465 if use_ssl else 587 if use_tls else 25, minimum=1)
    if port > 65535:
        raise ConfigurationError("GRIDVEND_EMAIL_PORT must be at most 65535")
    host = env.get_str("GRIDVEND_EMAIL_HOST", "localhost").strip()
    if not _HOST.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigurationError(f"GRIDVEND_EMAIL_HOST is not a host name: {host!r}") from None
    sender = env.get_text("GRIDVEND_EMAIL_FROM", "gridvend@localhost", max_length=254)
    if "@" not in parseaddr(sender)[1]:
        raise ConfigurationError(f"GRIDVEND_EMAIL_FROM is not an e-mail address: {sender!r}")
    return EmailSettings(
        name=choice,
        enabled=choice != "off",
        backend=_EMAIL_BACKENDS[choice],
        file_dir=Path(env.get_str("GRIDVEND_EMAIL_FILE_DIR", str(var_dir / "email"))),
        host=host,
        port=port,
        user=env.get_str("GRIDVEND_EMAIL_USER", ""),
        password=env.get_str("GRIDVEND_EMAIL_PASSWORD", ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
        timeout=env.get_int("GRIDVEND_EMAIL_TIMEOUT_SECONDS", 15, minimum=1),
        from_address=sender,
    )


@dataclass(frozen=True)
class WebServer:
    """How `gridvend serve` runs: gunicorn (processes × threads) or waitress (threads only,
    for platforms without fork)."""

    server: str
    workers: int
    threads: int
    timeout: int


def web_server(env: Env, *, cpu_count: int | None = None) -> WebServer:
    can_fork = hasattr(os, "fork")
    server = env.get_str("GRIDVEND_WEB_SERVER", "gunicorn" if can_fork else "waitress")
    server = server.strip().lower()
    if server not in {"gunicorn", "waitress"}:
        raise ConfigurationError(
            f"GRIDVEND_WEB_SERVER must be gunicorn or waitress, not {server!r}"
        )
    if server == "gunicorn" and not can_fork:
        raise ConfigurationError("GRIDVEND_WEB_SERVER=gunicorn needs fork(); use waitress here")
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    # gunicorn's rule of thumb, 2 x cores + 1, capped: past a dozen processes the database,
    # not the web tier, is what a sale waits for.
    workers = env.get_int("GRIDVEND_WEB_WORKERS", min(2 * cores + 1, 12), minimum=1)
    threads = env.get_int("GRIDVEND_WEB_THREADS", 4 if server == "gunicorn" else 8, minimum=1)
    timeout = env.get_int("GRIDVEND_WEB_TIMEOUT_SECONDS", 60, minimum=5)
    for name, value in (("GRIDVEND_WEB_WORKERS", workers), ("GRIDVEND_WEB_THREADS", threads)):
        if value > 64:
            raise ConfigurationError(f"{name} must be at most 64")
    return WebServer(server=server, workers=workers, threads=threads, timeout=timeout)
