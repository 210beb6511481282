"""Request plumbing for the screens: request ids, CSP, the user's language, the second factor."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation

from gridvend.audit import context
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.services import totp_requirement
from gridvend.kernel.inputs import InvalidInput
from gridvend.web.errors import describe

Handler = Callable[[HttpRequest], HttpResponse]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


class RequestIdMiddleware:
    """Binds the client IP and a request id for audit events and echoes the id to the client."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        with context.bound(context.RequestContext(ip=client_ip(request), request_id=request_id)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
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


_OPEN_PREFIXES = ("/static/", "/i18n/", "/login/", "/logout/", "/second-factor/", "/healthz")


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


class DomainErrorMiddleware:
    """Maps access errors and unreadable input raised below a view to 404 / 403 / 400 pages."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, NotFound):
            return render(request, "web/error.html", {"status": 404, "error": exc}, status=404)
        if isinstance(exc, AccessDenied):
            return render(request, "web/error.html", {"status": 403, "error": exc}, status=403)
        if isinstance(exc, InvalidInput):
            # A query string or field no screen sends (``?unit=²``): a sentence, never a 500.
            context = {"status": 400, "error": exc, "message": describe(exc)}
            return render(request, "web/error.html", context, status=400)
        return None
