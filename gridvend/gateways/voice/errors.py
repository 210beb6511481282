"""Refusals of the phone-enquiry channel in its own shapes: voice XML that tells the caller
(or rejects the call), JSON with a stable code for the SMS callback."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from gridvend.dunning.errors import EnquiryNotAuthorised
from gridvend.gateways.voice.protocol import REJECT, response, say
from gridvend.kernel.errors import DomainError

XML = "application/xml; charset=utf-8"


def voice_error(exc: DomainError) -> HttpResponse:
    if isinstance(exc, EnquiryNotAuthorised):
        reply = HttpResponse(REJECT, content_type=XML, status=403)
    else:
        reply = HttpResponse(response(say(str(exc.message))), content_type=XML, status=200)
    reply["X-Gridvend-Error"] = str(exc.code)
    return reply


def sms_error(exc: DomainError) -> JsonResponse:
    status = 403 if isinstance(exc, EnquiryNotAuthorised) else 400
    return JsonResponse(
        {"errorCode": str(exc.code), "errorMessage": str(exc.message)}, status=status
    )
