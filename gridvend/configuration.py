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
    elif not _HOST.match(host):
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
            if not _POINT_CODE.match(code):
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
