"""Request plumbing for the screens: request ids, CSP, the user's language, the second factor,
session lifetimes and the screen lock."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from gridvend.audit import context
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.selectors import totp_requirement
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import InvalidInput
from gridvend.web import sessions
from gridvend.web.errors import describe

Handler = Callable[[HttpRequest], HttpResponse]
request_log = logging.getLogger("gridvend.requests")
# fullmatch: with match and "$", "id\n" would pass, reach the log line and the audit context,
# and fail as a response header.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def printable(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, escape sequences,
    Unicode line separators) written as its backslash escape: a value from the request cannot
    start a forged line in a plain-text log."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str | None:
    """The address the request really came from: past our own proxies, never past the client.

    X-Forwarded-For is read from the right, skipping the trusted proxies' own entries; the
    first entry they did not write is the client as the outermost trusted proxy saw it.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not settings.TRUSTED_PROXIES or not _trusted(remote):
        return remote
    chain = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in chain if part]):
        if not _trusted(address):
            return address
    return remote


class RefuseNulMiddleware:
    """A NUL in the path or the query string is never a real request: answer 400 at the door.

    PostgreSQL cannot store or even compare text holding NUL, so such a value reaching any
    lookup (a sale reference in a path, a filter) would be a server error.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return HttpResponse(
                "A request address cannot hold a NUL character.\n",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _request_id(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR") or ""
    if settings.TRUSTED_PROXIES and remote and _trusted(remote):
        given = request.headers.get("X-Request-ID", "")
        if _REQUEST_ID.fullmatch(given):
            return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds the client IP and a request id for audit events and log lines, writes one log line
    per request (``gridvend.requests``) and echoes the id to the client.

    The id is the X-Request-ID header when a trusted proxy (GRIDVEND_TRUSTED_PROXIES: nginx,
    which sets it from its own $request_id) sent the request and it is well-formed (1-64 of
    letters, digits, dot, underscore, hyphen), else a new random one: a client cannot give its
    requests the id of someone else's, whose log lines and audit events would then share it."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id(request)
        started = time.perf_counter()
        with context.bound(context.RequestContext(ip=client_ip(request), request_id=request_id)):
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            request_log.info(
                "%s %s %s",
                printable(request.method or ""),
                printable(request.path[:200]),
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path[:200],
                    "status": response.status_code,
                    "view": match.view_name if match is not None else "",
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class PrivatePagesMiddleware:
    """Every page a signed-in user sees holds customer records, tokens or money: no browser or
    proxy may keep it (``Cache-Control: no-store``) unless the view said otherwise."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response


class UserLanguageMiddleware:
    """A signed-in user's saved language wins over the browser's."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if user is not None and user.is_authenticated and language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


_OPEN_PREFIXES = (
    "/static/",
    "/i18n/",
    "/login/",
    "/logout/",
    "/second-factor/",
    "/healthz",
    "/readyz",
    "/metrics",
)


class SecondFactorMiddleware:
    """Holds a signed-in user at the TOTP step until it is passed (or enrolled, when required)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not request.session.get("gv_second_factor")
            and not request.path.startswith(_OPEN_PREFIXES)
        ):
            if user.uses_totp:
                return HttpResponseRedirect(reverse("web:second-factor"))
            if totp_requirement(user):
                return HttpResponseRedirect(reverse("web:second-factor-enrol"))
        return self.get_response(request)


# What a locked screen may still reach: its unlock page, signing out or in, language, assets.
_LOCK_OPEN_PREFIXES = (
    "/static/",
    "/i18n/",
    "/login/",
    "/logout/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/cashier/unlock/",
)
# Views whose POST makes a sale: an interrupted one says plainly that no sale was made.
_SALE_VIEWS = frozenset({"cashier:sell"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _is_sale(request: HttpRequest) -> bool:
    if request.method != "POST":
        return False
    try:
        return resolve(request.path_info).view_name in _SALE_VIEWS
    except Resolver404:
        return False


def _page_in_view(request: HttpRequest) -> str:
    """The page the user was looking at when an htmx request or a form post was interrupted
    (never the POST-only URL it was sent to), as a local path; empty when unknown."""
    if request.method == "GET" and not is_htmx(request):
        return request.get_full_path()
    seen = request.headers.get("HX-Current-URL") or request.headers.get("Referer") or ""
    if not seen or not url_has_allowed_host_and_scheme(seen, allowed_hosts={request.get_host()}):
        return ""
    parts = urlsplit(seen)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _unlock_url(request: HttpRequest) -> str:
    """The unlock page, which returns to the page in view once unlocked (not to the idle ping
    a background tab sends)."""
    target = reverse("cashier:unlock")
    back = "" if request.path == reverse("cashier:alive") else _page_in_view(request)
    return f"{target}?{urlencode({'next': back})}" if back else target


class SessionGuardMiddleware:
    """Ends idle and over-age sessions, holds a locked screen at its unlock page, and makes every
    redirect that answers an htmx request a whole-page one (``HX-Redirect``): the sign-in page
    never lands inside the cashier's panel, and an interrupted sale says that it was not made."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Came with a session cookie but no signed-in session behind it: the session ended
        # (timed out, or removed on the server) before this request.
        ended = not request.user.is_authenticated and bool(
            request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        )
        if request.user.is_authenticated:
            state = sessions.check(request)
            if state is sessions.State.ENDED:
                logout(request)
                ended = True
            elif state is sessions.State.LOCKED and not request.path.startswith(
                _LOCK_OPEN_PREFIXES
            ):
                if _is_sale(request):
                    messages.warning(request, _("The screen is locked; the sale was not made."))
                return self._whole_page(request, HttpResponseRedirect(_unlock_url(request)))
        response = self.get_response(request)
        if response.status_code in _REDIRECTS:
            response = self._to_sign_in(request, response, ended)
        self._remember_language(request, response)
        return self._whole_page(request, response)

    def _remember_language(self, request: HttpRequest, response: HttpResponse) -> None:
        # The sign-in page a session ends on (no user any more) then speaks the user's language.
        user = request.user
        language = getattr(user, "language", "") if user.is_authenticated else ""
        if language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")

    def _to_sign_in(
        self, request: HttpRequest, response: HttpResponse, ended: bool
    ) -> HttpResponse:
        """A redirect to the sign-in page because the session ended: say so, and come back to
        the page the user was on rather than to a URL that only takes a POST."""
        login_path = resolve_url(settings.LOGIN_URL)
        if not ended or urlsplit(response["Location"]).path != login_path:
            return response
        if _is_sale(request):
            notice = _("Your session ended; the sale was not made. Sign in to continue.")
        elif request.method == "POST":
            notice = _("Your session ended; nothing was saved. Sign in to continue.")
        else:
            notice = _("Your session ended. Sign in to continue.")
        messages.warning(request, notice)
        back = _page_in_view(request)
        target = f"{login_path}?{urlencode({'next': back})}" if back else login_path
        return HttpResponseRedirect(target)

    def _whole_page(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        # htmx follows a redirect inside its request and would swap the target page into the
        # panel; HX-Redirect makes the browser itself go there.
        if not is_htmx(request) or response.status_code not in _REDIRECTS:
            return response
        whole = HttpResponse(status=204)
        whole["HX-Redirect"] = response["Location"]
        for cookie in response.cookies.values():
            whole.cookies[cookie.key] = cookie
        return whole


# An unreadable input is one no screen sends (``?unit=²``): a sentence and a 400, never a 500.
_STATUSES: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (AccessDenied, 403),
    (InvalidInput, 400),
)


class DomainErrorMiddleware:
    """Maps access errors and unreadable input raised below a view to 404 / 403 / 400 pages."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        for kind, status in _STATUSES:
            if isinstance(exc, kind):
                context = {"status": status, "error": exc, "message": describe(exc)}
                return render(request, "web/error.html", context, status=status)
        return None
