"""The sign-in protections shared by staff users and customer logins (gridvend.logins): the
lockout after repeated failures, and the password check paid for even when it is refused, so
that response times tell nothing. Each holder is a row with ``failed_logins`` and
``locked_until``, read and changed under the caller's row lock."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.contrib.auth import hashers
from django.utils import timezone
from django.utils.crypto import get_random_string


class LockoutHolder(Protocol):
    failed_logins: int
    locked_until: datetime | None


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
