"""One error shape for the whole API, and the HTTP status of every refusal code, in one place.

The body is always ``{"error": {"code", "message", "params"}}``; the code is stable (the error
catalogue, docs/errors.md), the message is for a person, the params carry the values behind it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class RequestInvalid(DomainError):
    """The body or a parameter does not match the documented schema (the OpenAPI document)."""

    code = "INVALID_REQUEST"
    message_template = gettext_lazy("The request is not valid: %(problem)s")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:300])


class BodyTooLarge(DomainError):
    code = "BODY_TOO_LARGE"
    message_template = gettext_lazy("The request body is larger than %(limit)s bytes.")

    def __init__(self, *, limit: int) -> None:
        super().__init__(limit=limit)


class UnsupportedMediaType(DomainError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    message_template = gettext_lazy("Send the request body as JSON (application/json).")

    def __init__(self) -> None:
        super().__init__()


# Everything not named here is a business refusal of a well-formed request: 422.
STATUS: dict[str, int] = {
    "INVALID_REQUEST": 400,
    "INVALID_INPUT": 400,
    "CLIENT_REFERENCE_INVALID": 400,
    "UNKNOWN_CURRENCY": 400,
    "CURRENCY_MISMATCH": 400,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "METER_NOT_FOUND": 404,
    "REQUEST_NOT_FOUND": 404,
    "PARTNER_POINT_UNKNOWN": 404,
    "DUPLICATE_REQUEST": 409,
    "ADVICE_CONFLICT": 409,
    "REQUEST_ALREADY_REVERSED": 409,
    "SALE_ALREADY_CONFIRMED": 409,
    "SALE_ALREADY_REVERSED": 409,
    "SALE_ALREADY_SETTLED": 409,
    "PARTNER_NOT_ACTIVE": 403,
    "BODY_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}


def status_of(error: DomainError) -> int:
    explicit = getattr(error, "http_status", None)
    if isinstance(explicit, int):
        return explicit
    return STATUS.get(str(error.code), 422)


def error_body(code: str, message: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "params": params or {}}}


def refusal_response(request: HttpRequest | None, error: DomainError) -> HttpResponse:
    response = JsonResponse(error_body(**error.as_dict()), status=status_of(error))
    retry_after = error.params.get("retry_after")
    if isinstance(retry_after, int):
        response["Retry-After"] = str(retry_after)
    return response
