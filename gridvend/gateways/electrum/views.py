"""The HTTP side of the Electrum interfaces (Prepaid Utility v3 and Billpay v4): POST only, JSON
only, a body cap before anything is read, the partner by its Basic credentials, and every refusal
as an ``ErrorDetail`` (each interface gives its own table through ``refusal``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gridvend.audit import context
from gridvend.gateways.electrum import handlers
from gridvend.gateways.electrum.errors import MessageInvalid, error_detail
from gridvend.gateways.electrum.protocol import MAX_BODY_BYTES, read_json
from gridvend.kernel.errors import DomainError
from gridvend.partners.credentials import authenticate
from gridvend.partners.models import Partner

Operation = Callable[..., handlers.Reply]
# (refusal, request type, the message's id, the path's ids) -> ErrorDetail body and status
Refusal = Callable[[DomainError, str, str, dict[str, str]], tuple[dict[str, Any], int]]


def electrum_refusal(
    exc: DomainError, request_type: str, message_id: str, ids: dict[str, str]
) -> tuple[dict[str, Any], int]:
    return error_detail(exc, request_type=request_type, message_id=message_id)


def _error(body: dict[str, Any], status: int, realm: str) -> JsonResponse:
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = f'Basic realm="{realm}"'
    return response


def _read(request: HttpRequest) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or len(declared) > 12 or int(declared) > MAX_BODY_BYTES:
        raise MessageInvalid(problem=f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise MessageInvalid(problem=f"the body is larger than {MAX_BODY_BYTES} bytes")
    return raw


def _is_json(request: HttpRequest) -> bool:
    kind = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def endpoint(
    operation: Operation,
    request_type: str,
    *,
    refusal: Refusal = electrum_refusal,
    realm: str = "gridvend prepaidutility",
) -> Callable[..., HttpResponse]:
    """A view for one operation: the path's ids go to the handler, in the path's order, after
    the partner and the body."""

    @csrf_exempt
    def view(request: HttpRequest, **ids: str) -> HttpResponse:
        first_id = next(iter(ids.values()), "")[:64]
        if request.method != "POST":
            response = JsonResponse(
                {
                    "errorType": "FUNCTION_NOT_SUPPORTED",
                    "errorMessage": "Only POST is supported.",
                    "requestType": request_type,
                },
                status=405,
            )
            response["Allow"] = "POST"
            return response
        data: dict[str, Any] | None = None
        try:
            raw = _read(request)
            partner: Partner = authenticate(
                authorization=request.META.get("HTTP_AUTHORIZATION"),
                ip=context.current().ip,
                method="POST",
                path=request.get_full_path(),
                body=raw,
                timestamp=request.headers.get("X-Gridvend-Timestamp"),
                signature=request.headers.get("X-Gridvend-Signature"),
            )
            if not _is_json(request):
                raise MessageInvalid(problem="the body must be application/json")
            data = read_json(raw)
            reply = operation(partner, data, *ids.values())
        except DomainError as exc:
            clipped = {name: value[:64] for name, value in ids.items()}
            body, status = refusal(exc, request_type, data_id(data) or first_id, clipped)
            return _error(body, status, realm)
        response = JsonResponse(reply.body, status=reply.status)
        response["Cache-Control"] = "no-store"
        return response

    return view


def data_id(data: object) -> str:
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return str(data["id"])[:64]
    return ""
