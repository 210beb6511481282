"""The provider's callbacks: POST only, a body cap before reading, the caller known by its
address (``MOBILEMONEY_CALLBACK_IPS``) and the secret segment of the URL it was given; the raw
body stored before it is read; every answer in Daraja's own shape, never an error page.

The confirmation is always acknowledged once stored: the money has moved, and a payment we
cannot sell waits in suspense (or, unreadable, in the raw store until the back-fill and the
reconciliation bring it from the provider's own record)."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gridvend.audit import context
from gridvend.gateways.mobilemoney import protocol
from gridvend.gateways.mobilemoney.errors import validation_code
from gridvend.kernel.errors import DomainError
from gridvend.mobilemoney import services
from gridvend.mobilemoney.errors import (
    MobileCallbackInvalid,
    MobileCallbackNotAuthorised,
    MobileProviderDisabled,
)
from gridvend.mobilemoney.models import CallbackKind, MobileProvider, RawCallback

logger = logging.getLogger("gridvend.mobilemoney")

Reply = tuple[dict[str, Any], int]


def _address_allowed(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
        return any(
            address in ipaddress.ip_network(allowed, strict=False)
            for allowed in settings.MOBILEMONEY_CALLBACK_IPS
        )
    except ValueError:
        return False


def _provider(code: str, secret: str) -> MobileProvider:
    """The provider the URL names, if the caller proves itself (an unknown provider and a wrong
    secret look the same)."""
    if not _address_allowed(context.current().ip):
        raise MobileCallbackNotAuthorised()
    provider = (
        MobileProvider.objects.select_related("partner__service_user", "partner__org_unit")
        .filter(code=code[:30])
        .first()
    )
    if provider is None or not services.secret_matches(provider, secret):
        raise MobileCallbackNotAuthorised()
    return provider


def _body(request: HttpRequest) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    limit = protocol.MAX_BODY_BYTES
    if not declared.isdigit() or len(declared) > 12 or int(declared) > limit:
        raise MobileCallbackInvalid(problem=f"the body is larger than {limit} bytes")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise MobileCallbackInvalid(problem=f"the body is larger than {limit} bytes")
    return raw


def _json(body: dict[str, Any], status: int = 200) -> HttpResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def callback_view(
    kind: str,
    handle: Callable[[MobileProvider, dict[str, Any]], tuple[dict[str, Any], Any]],
    refused: Callable[[DomainError], dict[str, Any]],
) -> Callable[..., HttpResponse]:
    """A callback endpoint: ``handle`` answers a read body (reply, payment); ``refused`` words a
    refusal in the callback's own reply."""

    @csrf_exempt
    def view(request: HttpRequest, provider: str, secret: str) -> HttpResponse:
        if request.method != "POST":
            response = _json(refused(MobileCallbackInvalid(problem="only POST")), 405)
            response["Allow"] = "POST"
            return response
        try:
            found = _provider(provider, secret)
        except MobileCallbackNotAuthorised as refusal:
            logger.warning("mobile-money %s callback refused from %s", kind, context.current().ip)
            return _json(refused(refusal), 403)
        stored: RawCallback | None = None
        try:
            raw = _body(request)
            stored = services.store_callback(
                provider=found, kind=kind, body=raw, source_ip=context.current().ip
            )
            if not found.is_enabled and kind == CallbackKind.VALIDATION:
                # Only a payment not yet made is refused. A confirmation, an STK callback or a
                # reversal's result reports money that has already moved: each is applied all
                # the same (a new payment waits in suspense while the paybill is off).
                raise MobileProviderDisabled(provider=found.code)
            reply, payment = handle(found, protocol.read_json(raw))
        except DomainError as refusal:
            reply = refused(refusal)
            if stored is not None:
                services.note_callback(stored, reply=json.dumps(reply), problem=str(refusal.code))
            return _json(reply)
        services.note_callback(stored, reply=json.dumps(reply), payment=payment)
        return _json(reply)

    return view


def _validate(provider: MobileProvider, data: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    notice = protocol.read_c2b(data)
    if notice.shortcode and notice.shortcode != provider.shortcode:
        return protocol.validation_reply(protocol.INVALID_SHORTCODE), None
    services.check_payment(provider, notice)
    return protocol.validation_reply(), None


def _validation_refused(refusal: DomainError) -> dict[str, Any]:
    return protocol.validation_reply(validation_code(refusal))


def _confirm(provider: MobileProvider, data: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    notice = protocol.read_c2b(data)
    if notice.shortcode and notice.shortcode != provider.shortcode:
        # Money paid to another paybill is not this one's to sell: the callback is kept (with
        # this problem) and acknowledged; this paybill's back-fill never pulls it.
        raise MobileCallbackInvalid(problem="BusinessShortCode is not this paybill's")
    payment = services.receive_confirmation(provider=provider, notice=notice)
    return protocol.confirmation_reply(), payment


def _confirmation_refused(refusal: DomainError) -> dict[str, Any]:
    if isinstance(refusal, MobileCallbackNotAuthorised):
        return protocol.confirmation_reply(False, "Rejected")
    # Stored as it came; the back-fill brings the payment from the provider's own record.
    return protocol.confirmation_reply(True, "Received")


def _stk(provider: MobileProvider, data: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    result = protocol.read_stk_callback(data)
    push = services.apply_result(provider=provider, result=result)
    return {"ResultCode": 0, "ResultDesc": "Accepted"}, push.payment


def _stk_refused(refusal: DomainError) -> dict[str, Any]:
    if isinstance(refusal, MobileCallbackNotAuthorised):
        return {"ResultCode": 1, "ResultDesc": "Rejected"}
    return {"ResultCode": 0, "ResultDesc": "Received"}


c2b_validation = callback_view(CallbackKind.VALIDATION, _validate, _validation_refused)
c2b_confirmation = callback_view(CallbackKind.CONFIRMATION, _confirm, _confirmation_refused)
stk_callback = callback_view(CallbackKind.STK_CALLBACK, _stk, _stk_refused)


def _reversal(provider: MobileProvider, data: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    request = services.apply_reversal_result(
        provider=provider, result=protocol.read_reversal_result(data)
    )
    return {"ResultCode": 0, "ResultDesc": "Accepted"}, request.payment


def _reversal_timed_out(
    provider: MobileProvider, data: dict[str, Any]
) -> tuple[dict[str, Any], Any]:
    request = services.apply_reversal_result(
        provider=provider, result=protocol.read_reversal_result(data, timed_out=True)
    )
    return {"ResultCode": 0, "ResultDesc": "Accepted"}, request.payment


reversal_result = callback_view(CallbackKind.REVERSAL_RESULT, _reversal, _stk_refused)
reversal_timeout = callback_view(CallbackKind.REVERSAL_TIMEOUT, _reversal_timed_out, _stk_refused)
