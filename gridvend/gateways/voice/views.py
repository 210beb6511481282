"""The phone-enquiry callbacks: POST only, a body cap before reading, the aggregator known by
its shared secret (the ``key`` query parameter of the callback URL it is given, or the
``X-Gridvend-Voice-Secret`` header) and/or its addresses, then the IVR's XML or the SMS reply."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from gridvend.audit import context
from gridvend.dunning import enquiry, voice
from gridvend.dunning.errors import EnquiryAccountUnknown, EnquiryInputInvalid, EnquiryNotAuthorised
from gridvend.gateways.voice import protocol
from gridvend.gateways.voice.errors import XML, sms_error, voice_error
from gridvend.kernel.errors import DomainError
from gridvend.kernel.phones import parse_phone
from gridvend.phone import sms as phone_sms


def _address_allowed(ip: str | None) -> bool:
    if not settings.VOICE_ALLOWED_IPS:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
        return any(
            address in ipaddress.ip_network(allowed, strict=False)
            for allowed in settings.VOICE_ALLOWED_IPS
        )
    except ValueError:
        return False


def _given_secret(request: HttpRequest) -> str:
    return request.headers.get("X-Gridvend-Voice-Secret") or request.GET.get("key", "")


def authenticate(request: HttpRequest) -> None:
    """EnquiryNotAuthorised unless the aggregator proves itself; with neither a secret nor an
    allow-list configured, nobody is let in."""
    secret = settings.VOICE_WEBHOOK_SECRET
    if not secret and not settings.VOICE_ALLOWED_IPS:
        raise EnquiryNotAuthorised()
    if secret and not hmac.compare_digest(
        _given_secret(request).encode("utf-8", "replace")[:200], secret.encode("utf-8")
    ):
        raise EnquiryNotAuthorised()
    if not _address_allowed(context.current().ip):
        raise EnquiryNotAuthorised()


def _body(request: HttpRequest) -> dict[str, str]:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or len(declared) > 12 or int(declared) > protocol.MAX_BODY_BYTES:
        raise EnquiryInputInvalid(field="body")
    return protocol.read_form(request.read(protocol.MAX_BODY_BYTES + 1))


def _not_post() -> HttpResponse:
    reply = HttpResponse(status=405)
    reply["Allow"] = "POST"
    return reply


def _callback_url(request: HttpRequest) -> str:
    # Back to this same address, with the secret the aggregator was given.
    url = request.build_absolute_uri(request.path)
    key = _given_secret(request)
    return f"{url}?{urlencode({'key': key})}" if key else url


def _prompt(request: HttpRequest, before: str = "") -> str:
    actions = [protocol.say(before)] if before else []
    actions.append(
        protocol.get_digits(
            _("Please key in your account number, then the hash key."),
            callback_url=_callback_url(request),
        )
    )
    return protocol.response(*actions)


def _xml(body: str) -> HttpResponse:
    reply = HttpResponse(body, content_type=XML)
    reply["Cache-Control"] = "no-store"
    return reply


@csrf_exempt
def ivr(request: HttpRequest) -> HttpResponse:
    """One callback of a call: the first asks for the account number, the one carrying the
    digits answers with the balance, the final notification is acknowledged."""
    if request.method != "POST":
        return _not_post()
    try:
        authenticate(request)
        call = protocol.read_voice(_body(request))
        if not call.is_active:
            return _xml(protocol.response())
        if call.digits is None:
            return _xml(_prompt(request))
        if not enquiry.take_call_try(call.session_id, call.caller):
            goodbye = _("Too many tries. Please call again later. Goodbye.")
            reply = _xml(protocol.response(protocol.say(goodbye)))
            reply["X-Gridvend-Error"] = "ENQUIRY_TOO_MANY_TRIES"
            return reply
        try:
            account = enquiry.parse_account_digits(call.digits)
            found = enquiry.facts(enquiry.enquiry_actor(), account)
        except (EnquiryInputInvalid, EnquiryAccountUnknown) as refusal:
            reply = _xml(_prompt(request, before=str(refusal.message)))
            reply["X-Gridvend-Error"] = str(refusal.code)
            return reply
        enquiry.end_call_tries(call.session_id)
        last = found.last_payment
        text = voice.balance_text(
            language=found.language if found.language in voice.VOICES else "en",
            account_number=found.customer.account_number,
            total_due_minor=found.total_due_minor,
            arrears_minor=found.arrears_minor,
            currency=found.currency,
            last_payment=(enquiry.said_day(last[0], found.language), last[1]) if last else None,
        )
        with translation.override(found.language):
            goodbye = _("Thank you for calling. Goodbye.")
        return _xml(protocol.response(protocol.say(text), protocol.say(goodbye)))
    except DomainError as exc:
        return voice_error(exc)


@csrf_exempt
def sms(request: HttpRequest) -> HttpResponse:
    """An inbound SMS through the voice aggregator's account: the same handler, commands,
    records and hourly budget as the short code's (``phone.sms``), so ``BAL <account>`` from
    the account's registered phone is answered with the postpaid balance and ``BUY``, ``TOKEN``
    and ``HELP`` work here too; once per message ``id``."""
    if request.method != "POST":
        return _not_post()
    try:
        authenticate(request)
        form = _body(request)
        message, new = phone_sms.receive(
            message_id=protocol.field(form, "id", required=True, max_length=100),
            phone=parse_phone(
                protocol.field(form, "from", required=True, max_length=32),
                region=settings.DEFAULT_COUNTRY,
                field="from",
            ),
            to=protocol.field(form, "to", max_length=20),
            text=form.get("text", ""),
        )
    except DomainError as exc:
        return sms_error(exc)
    return JsonResponse({"status": "received" if new else "duplicate", "outcome": message.outcome})
