"""How long a signed-in session lasts and whether its screen is locked, kept in the session itself.

A session ends ``SESSION_IDLE_SECONDS`` after its last request and ``SESSION_MAX_SECONDS`` after
sign-in, whichever comes first. A session that used the cashier screen also locks after
``SCREEN_LOCK_MINUTES`` without a request: the flag lives here, on the server, so a locked
session cannot sell whatever its browser does; the password lifts it (the shift stays open).
"""

from __future__ import annotations

import enum
import time

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from gridvend.identity.models import User

SIGNED_IN_AT = "gv_signed_in_at"
LAST_SEEN = "gv_last_seen"
# Set by the cashier screen: this session serves a counter, so the idle lock applies to it.
TILL = "gv_till"
LOCKED = "gv_locked"


def actor(request: HttpRequest) -> User:
    """The signed-in user of a request that ``login_required`` (or the middleware) let through."""
    user = request.user
    assert isinstance(user, User)
    return user


class State(enum.Enum):
    ACTIVE = "active"
    LOCKED = "locked"
    ENDED = "ended"


def _now() -> float:
    return time.time()


def _number(session: SessionBase, key: str) -> float | None:
    value = session.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def lock_seconds() -> int:
    """The idle lock in seconds (0: off)."""
    return round(float(settings.SCREEN_LOCK_MINUTES) * 60)


def _resolution() -> float:
    """How stale ``LAST_SEEN`` may get before it is written again: a session is saved at most
    about once a minute while in use, and the limits still hold to within a tenth."""
    limits = [60.0, settings.SESSION_IDLE_SECONDS / 10]
    if lock_seconds():
        limits.append(lock_seconds() / 10)
    return max(min(limits), 1.0)


def start(request: HttpRequest) -> None:
    """Note a fresh sign-in (the absolute lifetime counts from here)."""
    now = _now()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN] = now
    request.session.pop(LOCKED, None)


def check(request: HttpRequest) -> State:
    """Called once per request of a signed-in user: says whether the session has ended or is
    locked, locks a till left idle, and notes the request as activity."""
    session = request.session
    now = _now()
    signed_in = _number(session, SIGNED_IN_AT)
    if signed_in is None:
        # Signed in before this bookkeeping existed (or by a test's force_login): count from now.
        start(request)
        return State.ACTIVE
    last = _number(session, LAST_SEEN) or signed_in
    if now - signed_in >= settings.SESSION_MAX_SECONDS:
        return State.ENDED
    if now - last >= settings.SESSION_IDLE_SECONDS:
        return State.ENDED
    if session.get(LOCKED):
        # A locked screen is not activity: left locked, the session still ends when idle.
        return State.LOCKED
    if session.get(TILL) and lock_seconds() and now - last >= lock_seconds():
        session[LOCKED] = True
        return State.LOCKED
    if now - last >= _resolution():
        session[LAST_SEEN] = now
    return State.ACTIVE


def is_locked(request: HttpRequest) -> bool:
    return bool(request.session.get(LOCKED))


def mark_till(request: HttpRequest) -> None:
    if not request.session.get(TILL):
        request.session[TILL] = True


def lock(request: HttpRequest) -> None:
    request.session[LOCKED] = True


def unlock(request: HttpRequest) -> None:
    request.session.pop(LOCKED, None)
    request.session[LAST_SEEN] = _now()
