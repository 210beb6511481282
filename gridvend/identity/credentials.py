"""The sign-in protections shared by staff users and customer logins (gridvend.logins): the
lockout after repeated failures, and the password check paid for even when it is refused, so
that response times tell nothing. Each holder is a row with ``failed_logins`` and
``locked_until``, read and changed under the caller's row lock."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, Protocol

import pyotp
from django.conf import settings
from django.contrib.auth import hashers
from django.db import models
from django.utils import timezone
from django.utils.crypto import get_random_string


class LockoutHolder(Protocol):
    failed_logins: int
    locked_until: datetime | None


class TotpHolder(Protocol):
    pk: Any
    totp_last_step: int


def is_locked_out(holder: LockoutHolder) -> bool:
    """Whether the holder waits out a lockout now."""
    until = holder.locked_until
    return until is not None and until > timezone.now()


def count_failure(holder: LockoutHolder) -> bool:
    """Count one wrong password or code on the locked row (the caller saves
    ``failed_logins`` and ``locked_until``); True when this failure locked the holder out for
    LOGIN_LOCKOUT_MINUTES, after LOGIN_MAX_FAILURES in a row."""
    holder.failed_logins += 1
    if holder.failed_logins >= settings.LOGIN_MAX_FAILURES:
        holder.locked_until = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        holder.failed_logins = 0
        return True
    return False


@functools.cache
def _stand_in_hash(algorithm: str) -> str:
    return hashers.make_password(get_random_string(32), hasher=algorithm)


def check_anyway(password: str, encoded: str | None = None) -> None:
    """Pay for one password check whose answer is ignored.

    Every refusal (unknown name, locked or inactive account) then costs what a wrong password
    costs, so response times tell nothing about which of them it was.
    """
    if encoded is None:
        encoded = _stand_in_hash(hashers.get_hasher().algorithm)
    hashers.check_password(password, encoded)


def accept_totp(holder: TotpHolder, code: str, *, secret: str) -> bool:
    """Check an authenticator code (the step before, now and after) and refuse reuse of a time
    step already used (replay of an observed code): the holder's ``totp_last_step`` moves on
    in the database only if no other request took that step first."""
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    if not code.isdigit() or not secret:
        return False
    manager: models.Manager[models.Model] = type(holder)._default_manager  # type: ignore[attr-defined]
    now = timezone.now()
    for offset in (-1, 0, 1):
        when = now + timedelta(seconds=30 * offset)
        step = int(when.timestamp()) // 30
        if step > holder.totp_last_step and totp.at(when) == code:
            updated = manager.filter(pk=holder.pk, totp_last_step__lt=step).update(
                totp_last_step=step
            )
            if updated:
                holder.totp_last_step = step
                return True
    return False
