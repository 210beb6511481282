"""Portal sessions, kept apart from staff sessions: their own cookie (``gv_portal``, sent by the
browser only to /portal/), their own keys in the session store, and on /portal/ pages the
staff's signed-in user is never seen. A staff session's key in the portal cookie, or a portal
session's key in the staff cookie, opens nothing: neither carries the other's keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import add_never_cache_headers

from gridvend.logins.models import CustomerLogin
from gridvend.logins.services import session_digest

PREFIX = "/portal/"
LOGIN = "gv_portal_login"
DIGEST = "gv_portal_digest"
SIGNED_IN_AT = "gv_portal_signed_in_at"
LAST_SEEN = "gv_portal_last_seen"

Handler = Callable[[HttpRequest], HttpResponse]


def _store(key: str | None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(key)
    return store


def _number(session: SessionBase, key: str) -> float | None:
    value = session.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _signed_in(session: SessionBase) -> CustomerLogin | None:
    pk = session.get(LOGIN)
    if isinstance(pk, bool) or not isinstance(pk, int):
        return None
    now = time.time()
    started, seen = _number(session, SIGNED_IN_AT), _number(session, LAST_SEEN)
    if (
        started is None
        or seen is None
        or now - started > settings.SESSION_MAX_SECONDS
        or now - seen > settings.SESSION_IDLE_SECONDS
    ):
        return None
    login = CustomerLogin.objects.filter(pk=pk, is_active=True).first()
    if login is None or session.get(DIGEST) != session_digest(login):
        return None
    if now - seen > 60:
        session[LAST_SEEN] = now
    return login


def sign_in(request: HttpRequest, login: CustomerLogin) -> None:
    """A fresh session for the login (a new key: a key planted before sign-in opens nothing)."""
    old: SessionBase = request.portal_session  # type: ignore[attr-defined]
    old.flush()
    now = time.time()
    old[LOGIN] = login.pk
    old[DIGEST] = session_digest(login)
    old[SIGNED_IN_AT] = now
    old[LAST_SEEN] = now
    request.customer = login  # type: ignore[attr-defined]


def sign_out(request: HttpRequest) -> None:
    session: SessionBase = request.portal_session  # type: ignore[attr-defined]
    session.flush()
    request.customer = None  # type: ignore[attr-defined]


def customer(request: HttpRequest) -> CustomerLogin | None:
    return getattr(request, "customer", None)


class PortalSessionMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        # The staff's session, if the browser has one, plays no part on a portal page.
        request.user = AnonymousUser()
        cookie = request.COOKIES.get(settings.PORTAL_SESSION_COOKIE_NAME)
        session = _store(cookie if cookie and len(cookie) <= 64 else None)
        request.portal_session = session  # type: ignore[attr-defined]
        login = _signed_in(session)
        if login is None and session.get(LOGIN) is not None:
            session.flush()
        request.customer = login  # type: ignore[attr-defined]
        if login is not None and login.language:
            translation.activate(login.language)
            request.LANGUAGE_CODE = login.language
        response = self.get_response(request)
        if customer(request) is not None and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        self._save(session, response, had_cookie=bool(cookie))
        return response

    def _save(self, session: SessionBase, response: HttpResponse, *, had_cookie: bool) -> None:
        name = settings.PORTAL_SESSION_COOKIE_NAME
        if had_cookie and session.is_empty():
            response.delete_cookie(name, path=PREFIX, samesite="Lax")
            return
        if not session.modified or session.is_empty() or response.status_code >= 500:
            return
        session.save()
        response.set_cookie(
            name,
            session.session_key or "",
            max_age=settings.SESSION_MAX_SECONDS,
            path=PREFIX,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
