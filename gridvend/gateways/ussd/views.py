"""The Africa's Talking callbacks under /phone/<secret>/: a USSD hop, the USSD end-of-session
event, an inbound SMS and an SMS delivery report. POST only; the caller known by its address
(``PHONE_CALLBACK_IPS``) and the secret segment of the URL; the body capped before it is read.
A USSD hop is always answered ``CON``/``END`` as text/plain (a refusal as an ``END`` screen in
the customer's language), the other callbacks with a small JSON acknowledgement."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from gridvend.audit import context
from gridvend.gateways.ussd import protocol
from gridvend.kernel.errors import DomainError
from gridvend.phone import common, deliveries, sms, ussd
from gridvend.phone.errors import PhoneCallbackInvalid, PhoneCallbackNotAuthorised

logger = logging.getLogger("gridvend.phone")


def _address_allowed(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
        return any(
            address in ipaddress.ip_network(allowed, strict=False)
            for allowed in settings.PHONE_CALLBACK_IPS
        )
    except ValueError:
        return False


def _authenticate(secret: str) -> None:
    if not _address_allowed(context.current().ip) or not hmac.compare_digest(
        common.callback_secret().encode(), secret.encode()[:64]
    ):
        raise PhoneCallbackNotAuthorised()


def _form(request: HttpRequest) -> dict[str, str]:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    limit = protocol.MAX_BODY_BYTES
    if not declared.isdigit() or len(declared) > 12 or int(declared) > limit:
        raise PhoneCallbackInvalid(problem=f"the body is larger than {limit} bytes")
    return protocol.read_form(request.read(limit + 1))


def _plain(text: str, status: int = 200) -> HttpResponse:
    reply = HttpResponse(text, content_type="text/plain; charset=utf-8", status=status)
    reply["Cache-Control"] = "no-store"
    return reply


def _json(body: dict[str, str], status: int = 200) -> JsonResponse:
    reply = JsonResponse(body, status=status)
    reply["Cache-Control"] = "no-store"
    return reply


def _post_only(view: Callable[[HttpRequest, str], HttpResponse]) -> Callable[..., HttpResponse]:
    @csrf_exempt
    def wrapped(request: HttpRequest, secret: str) -> HttpResponse:
        if request.method != "POST":
            reply = HttpResponse(status=405)
            reply["Allow"] = "POST"
            return reply
        return view(request, secret)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@_post_only
def session(request: HttpRequest, secret: str) -> HttpResponse:
    """One USSD hop: the screen."""
    try:
        _authenticate(secret)
    except PhoneCallbackNotAuthorised as refusal:
        logger.warning("USSD hop refused from %s", context.current().ip)
        reply = _plain("END " + str(refusal.message), 403)
        reply["X-Gridvend-Error"] = str(refusal.code)
        return reply
    language = ""
    try:
        form = _form(request)
        phone = common.e164(protocol.field(form, "phoneNumber", required=True), field="phone")
        language = common.language_of(phone)
        raw_text = form.get("text", "")
        if len(raw_text) > ussd.MAX_TEXT:
            return _plain(ussd.closing_text("too_long", language).body)
        screen = ussd.answer(
            session_id=protocol.field(form, "sessionId", required=True, max_length=100),
            phone=phone,
            service_code=protocol.field(form, "serviceCode", max_length=40),
            network_code=protocol.field(form, "networkCode", max_length=10),
            text=protocol.field(form, "text", max_length=ussd.MAX_TEXT),
        )
    except DomainError as refusal:
        with translation.override(language or settings.LANGUAGE_CODE):
            text = str(refusal.message)
            if isinstance(refusal, PhoneCallbackInvalid) or refusal.code == "INVALID_INPUT":
                text = _("Input not understood. Please dial again.")
        reply = _plain("END " + text)
        reply["X-Gridvend-Error"] = str(refusal.code)
        return reply
    return _plain(screen.body)


@_post_only
def session_event(request: HttpRequest, secret: str) -> HttpResponse:
    """The end-of-session notification: recorded on its session, acknowledged."""
    try:
        _authenticate(secret)
        form = _form(request)
        known = ussd.record_end(
            session_id=protocol.field(form, "sessionId", required=True, max_length=100),
            status=protocol.field(form, "status", max_length=20),
            cost=protocol.field(form, "cost", max_length=30),
            duration_ms=protocol.number(form, "durationInMillis"),
            hops=protocol.number(form, "hopsCount"),
            error=protocol.field(form, "errorMessage", max_length=protocol.MAX_FIELD),
        )
    except DomainError as refusal:
        return _refused(refusal)
    return _json({"status": "recorded" if known else "unknown session"})


def _refused(refusal: DomainError) -> JsonResponse:
    status = 403 if isinstance(refusal, PhoneCallbackNotAuthorised) else 400
    reply = _json({"errorCode": str(refusal.code), "errorMessage": str(refusal.message)}, status)
    reply["X-Gridvend-Error"] = str(refusal.code)
    return reply


@_post_only
def sms_inbound(request: HttpRequest, secret: str) -> HttpResponse:
    """An SMS to the short code: recorded once per ``id`` and answered by SMS."""
    try:
        _authenticate(secret)
        form = _form(request)
        message, new = sms.receive(
            message_id=protocol.field(form, "id", required=True, max_length=100),
            phone=common.e164(protocol.field(form, "from", required=True), field="from"),
            to=protocol.field(form, "to", max_length=20),
            text=form.get("text", ""),
            sent_at=protocol.field(form, "date", max_length=40),
            link_id=protocol.field(form, "linkId", max_length=100),
            network_code=protocol.field(form, "networkCode", max_length=10),
        )
    except DomainError as refusal:
        return _refused(refusal)
    return _json({"status": "received" if new else "duplicate", "outcome": message.outcome})


@_post_only
def sms_delivery(request: HttpRequest, secret: str) -> HttpResponse:
    """A delivery report: recorded once per (id, status)."""
    try:
        _authenticate(secret)
        form = _form(request)
        _report, new = deliveries.record_report(
            message_id=protocol.field(form, "id", required=True, max_length=100),
            status=protocol.field(form, "status", required=True, max_length=20),
            phone=protocol.field(form, "phoneNumber", max_length=32),
            network_code=protocol.field(form, "networkCode", max_length=10),
            failure_reason=protocol.field(form, "failureReason", max_length=60),
            retry_count=protocol.number(form, "retryCount"),
        )
    except DomainError as refusal:
        return _refused(refusal)
    return _json({"status": "recorded" if new else "duplicate"})
