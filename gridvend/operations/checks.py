"""`gridvend check --deploy`: what a production server must have set, as Django system checks
with stable ids (docs/operations.md, "Checking a deployment").

Errors (``gridvend.E...``) make the command fail: the server would be unsafe, or would lose
work. Warnings (``gridvend.W...``) are for a deliberate choice that production rarely wants
(SQLite, a host list of loopback names only). Django's own ``security.*`` deploy checks run
beside these.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import DatabaseError
from django.utils import timezone

TAG = "gridvend"
# A Django secret key shorter than this, or with fewer distinct characters, is guessable
# (Django's own security.W009 uses the same figures).
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# deploy/gridvend.env.example writes every secret as CHANGE-ME...: a value still starting so was
# copied, not generated.
PLACEHOLDER_PREFIX = "change-me"
# Networks that hold every address of a family (IPv4, IPv6, IPv4 mapped into IPv6).
_EVERY_ADDRESS = (
    ipaddress.ip_network("0.0.0.0/0"),
    ipaddress.ip_network("::/0"),
    ipaddress.ip_network("::ffff:0:0/96"),
)


def _placeholder(value: str) -> bool:
    return value.strip().lower().startswith(PLACEHOLDER_PREFIX)


def _secret_key() -> list[CheckMessage]:
    key = str(getattr(settings, "SECRET_KEY", "") or "")
    if (
        len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE
        or key == settings.DEMO_SECRET_KEY
        or key.startswith("django-insecure")
        or _placeholder(key)
    ):
        return [
            Error(
                "GRIDVEND_SECRET_KEY is missing, short or the public demo key.",
                hint="Set at least 50 random characters: "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
                id="gridvend.E001",
            )
        ]
    return []


def _master_key() -> list[CheckMessage]:
    if settings.INSECURE_MASTER_KEY or settings.MASTER_KEY == settings.DEMO_MASTER_KEY:
        return [
            Error(
                "GRIDVEND_MASTER_KEY is not set: vending keys are sealed under the public demo "
                "key.",
                hint="Generate 64 hex digits (python -c 'import secrets; "
                "print(secrets.token_hex(32))'), keep them outside the database and the "
                "backups (docs/key-management.md).",
                id="gridvend.E002",
            )
        ]
    return []


def _previous_master_key() -> list[CheckMessage]:
    if settings.MASTER_KEY_PREVIOUS:
        return [
            Warning(
                "GRIDVEND_MASTER_KEY_PREVIOUS is set: the retired master key still opens every "
                "vending key sealed under it.",
                hint="Once `gridvend keys rotate-master` reports every key resealed, remove it "
                "from every server's environment and restart (docs/key-management.md).",
                id="gridvend.W003",
            )
        ]
    return []


def _debug() -> list[CheckMessage]:
    if settings.DEBUG or settings.DEMO_MODE:
        return [
            Error(
                "GRIDVEND_DEBUG or GRIDVEND_DEMO is on: error pages show settings and the demo "
                "switches are live.",
                hint="Unset both on a production server.",
                id="gridvend.E003",
            )
        ]
    return []


def _allowed_hosts() -> list[CheckMessage]:
    hosts = [str(host) for host in settings.ALLOWED_HOSTS]
    if not hosts or any(host in ("*", ".") for host in hosts):
        return [
            Error(
                "GRIDVEND_ALLOWED_HOSTS is empty or lets any host name through.",
                hint="List the server's public names, e.g. vend.utility.example.",
                id="gridvend.E004",
            )
        ]
    if set(hosts) <= _LOOPBACK_HOSTS:
        return [
            Warning(
                "GRIDVEND_ALLOWED_HOSTS names only loopback addresses: requests through the "
                "front proxy with the public name are refused.",
                hint="Add the public names the proxy passes on in the Host header.",
                id="gridvend.W001",
            )
        ]
    return []


def _tls() -> list[CheckMessage]:
    found: list[CheckMessage] = []
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        found.append(
            Error(
                "Session and CSRF cookies may travel without TLS (GRIDVEND_SECURE_COOKIES is "
                "false).",
                hint="Serve over HTTPS and leave GRIDVEND_SECURE_COOKIES at its default.",
                id="gridvend.E005",
            )
        )
    if settings.SECURE_HSTS_SECONDS < 86400:
        found.append(
            Error(
                "HSTS is off or shorter than a day (GRIDVEND_HSTS_SECONDS): a browser may be "
                "led to the plain-HTTP site.",
                hint="Set GRIDVEND_HSTS_SECONDS=31536000 once HTTPS works.",
                id="gridvend.E006",
            )
        )
    if not settings.SECURE_SSL_REDIRECT:
        found.append(
            Error(
                "Plain HTTP is answered (GRIDVEND_SSL_REDIRECT is false).",
                hint="Set GRIDVEND_SSL_REDIRECT=true (and GRIDVEND_BEHIND_PROXY=true behind "
                "nginx, which says the request came over TLS).",
                id="gridvend.E007",
            )
        )
    return found


def _second_factor() -> list[CheckMessage]:
    if not settings.REQUIRE_ADMIN_TOTP:
        return [
            Error(
                "Administrators may sign in without their second factor "
                "(GRIDVEND_REQUIRE_ADMIN_TOTP=false).",
                hint="Only the demo switches this off.",
                id="gridvend.E008",
            )
        ]
    return []


def _database() -> list[CheckMessage]:
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return [
            Warning(
                "The database is SQLite: one writer at a time, for demos and offline stations.",
                hint="Use PostgreSQL for a master station "
                "(GRIDVEND_DATABASE_URL=postgresql://...).",
                id="gridvend.W002",
            )
        ]
    return []


def _worker() -> list[CheckMessage]:
    from gridvend.jobs.selectors import last_worker_heartbeat

    try:
        seen = last_worker_heartbeat()
    except DatabaseError as exc:
        return [_unreadable(exc)]
    stale = timedelta(seconds=settings.WORKER_STALE_SECONDS)
    if seen is None or timezone.now() - seen > stale:
        return [
            Error(
                "No job worker has been seen in the last "
                f"{settings.WORKER_STALE_SECONDS} seconds: SMS, advices, reconciliations and "
                "backups are not running.",
                hint="Start `gridvend worker` (deploy/systemd/gridvend-worker.service).",
                id="gridvend.E009",
            )
        ]
    return []


def _backups() -> list[CheckMessage]:
    from croniter import croniter
    from django_q.models import Schedule

    from gridvend.operations.apps import BACKUP_SCHEDULE

    if not settings.BACKUP_KEY:
        return [
            Error(
                "GRIDVEND_BACKUP_KEY is not set: no backup is taken.",
                hint="Set 64 hex digits (not the master key) and keep a copy off the server "
                "(docs/operations.md, Backups).",
                id="gridvend.E010",
            )
        ]
    if not croniter.is_valid(settings.BACKUP_CRON):
        return [
            Error(
                "GRIDVEND_BACKUP_CRON is not a cron expression.",
                hint="Five fields: minute hour day month weekday, e.g. '15 1 * * *'.",
                id="gridvend.E011",
            )
        ]
    try:
        scheduled = Schedule.objects.filter(
            name=BACKUP_SCHEDULE, cron=settings.BACKUP_CRON, repeats=-1
        ).exists()
    except DatabaseError as exc:
        return [_unreadable(exc)]
    if not scheduled:
        return [
            Error(
                "The nightly backup is not scheduled in the database.",
                hint="The worker writes the schedule when it starts with GRIDVEND_BACKUP_KEY "
                "set: restart `gridvend worker`.",
                id="gridvend.E012",
            )
        ]
    return []


def _metrics() -> list[CheckMessage]:
    found: list[CheckMessage] = []
    if settings.METRICS_TOKEN and _placeholder(settings.METRICS_TOKEN):
        found.append(
            Error(
                "GRIDVEND_METRICS_TOKEN is the example file's placeholder: anyone who read "
                "deploy/gridvend.env.example may scrape /metrics.",
                hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                id="gridvend.E014",
            )
        )
    everyone = _covering_every_address(settings.METRICS_ALLOWED_IPS)
    if everyone:
        found.append(
            Error(
                "GRIDVEND_METRICS_ALLOWED_IPS lets every address read /metrics "
                f"({', '.join(everyone)}).",
                hint="Name the Prometheus servers' addresses or their private network.",
                id="gridvend.E015",
            )
        )
    return found


def _covering_every_address(allowed: list[str]) -> list[str]:
    """The allowed networks that together hold every address of a family (0.0.0.0/0 alone, or
    0.0.0.0/1 with 128.0.0.0/1 as VPN routes write it, or any other cover); empty when none do."""
    networks: list[Any] = [ipaddress.ip_network(str(net), strict=False) for net in allowed]
    for every in _EVERY_ADDRESS:
        family = [net for net in networks if net.version == every.version]
        inside = [net for net in family if net.subnet_of(every) or every.subnet_of(net)]
        if not inside:
            continue
        # What each holds of this family, overlaps merged, so each address counts once.
        parts: list[Any] = [every if every.subnet_of(net) else net for net in inside]
        held = ipaddress.collapse_addresses(parts)
        if sum(net.num_addresses for net in held) >= every.num_addresses:
            return [str(net) for net in inside]
    return []


def _hsm() -> list[CheckMessage]:
    if settings.TOKEN_ENGINE != "pkcs11":
        return []
    if not (
        settings.HSM_PKCS11_MODULE
        and settings.HSM_TOKEN_LABEL
        and os.environ.get(settings.HSM_PIN_ENV, "")
    ):
        return [
            Error(
                "GRIDVEND_TOKEN_ENGINE=pkcs11 but the HSM's PKCS#11 module, token label or PIN "
                f"(the variable {settings.HSM_PIN_ENV}) is not set: every sale would be refused "
                "HSM_UNAVAILABLE.",
                hint="Set GRIDVEND_HSM_PKCS11_MODULE, GRIDVEND_HSM_TOKEN_LABEL and the PIN in "
                "the variable GRIDVEND_HSM_PIN_ENV names (docs/key-management.md).",
                id="gridvend.E016",
            )
        ]
    module = settings.HSM_PKCS11_MODULE
    if not (os.path.isfile(module) and os.access(module, os.R_OK)):
        return [
            Error(
                f"GRIDVEND_HSM_PKCS11_MODULE ({module}) is not a readable file: every sale would "
                "be refused HSM_UNAVAILABLE.",
                hint="Install the HSM vendor's PKCS#11 library and name its path (SoftHSM2: "
                "/usr/lib/softhsm/libsofthsm2.so; docs/key-management.md).",
                id="gridvend.E016",
            )
        ]
    return []


def _wallet_sandbox() -> list[CheckMessage]:
    if settings.WALLET_SANDBOX:
        return [
            Error(
                "GRIDVEND_WALLET_SANDBOX is on: anyone can top a wallet up with pretend money "
                "through the sandbox card provider's page.",
                hint="Unset it on a production server (docs/wallet.md).",
                id="gridvend.E017",
            )
        ]
    return []


def _unreadable(exc: Exception) -> Error:
    return Error(
        f"The database cannot be read ({type(exc).__name__}).",
        hint="Check GRIDVEND_DATABASE_URL and that `gridvend migrate` has run.",
        id="gridvend.E013",
    )


@register(TAG, deploy=True)
def deployment(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every gridvend deploy check, in the order of docs/operations.md's table."""
    found: list[CheckMessage] = []
    for check in (
        _secret_key,
        _master_key,
        _previous_master_key,
        _debug,
        _allowed_hosts,
        _tls,
        _second_factor,
        _database,
        _worker,
        _backups,
        _metrics,
        _hsm,
        _wallet_sandbox,
    ):
        found.extend(check())
    return found
