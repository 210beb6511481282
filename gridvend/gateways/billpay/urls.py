"""The Electrum Billpay v4 resources (all POST) under /billpay/v4/."""

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from django.urls import path

from gridvend.gateways.billpay import handlers
from gridvend.gateways.billpay.errors import error_detail
from gridvend.gateways.electrum.views import Operation, endpoint
from gridvend.kernel.errors import DomainError

app_name = "billpay"

PAYMENT = "payments/<str:payment_id>"
REFUND = "refunds/<str:refund_id>"
REALM = "gridvend billpay"


def _refusal(
    exc: DomainError, request_type: str, message_id: str, ids: dict[str, str]
) -> tuple[dict[str, Any], int]:
    return error_detail(exc, request_type=request_type, message_id=message_id, ids=ids)


def _endpoint(operation: Operation, request_type: str) -> Callable[..., HttpResponse]:
    return endpoint(operation, request_type, refusal=_refusal, realm=REALM)


urlpatterns = [
    path(
        "accountLookups/<str:request_id>",
        _endpoint(handlers.account_lookup, "ACCOUNT_LOOKUP_REQUEST"),
        name="account-lookup",
    ),
    path(PAYMENT, _endpoint(handlers.payment, "PAYMENT_REQUEST"), name="payment"),
    path(
        f"{PAYMENT}/confirmations/<str:advice_id>",
        _endpoint(handlers.confirm_payment, "PAYMENT_CONFIRMATION"),
        name="payment-confirmation",
    ),
    path(
        f"{PAYMENT}/reversals/<str:advice_id>",
        _endpoint(handlers.reverse_payment, "PAYMENT_REVERSAL"),
        name="payment-reversal",
    ),
    path(REFUND, _endpoint(handlers.refund, "REFUND_REQUEST"), name="refund"),
    path(
        f"{REFUND}/confirmations/<str:advice_id>",
        _endpoint(handlers.confirm_refund, "REFUND_CONFIRMATION"),
        name="refund-confirmation",
    ),
    path(
        f"{REFUND}/reversals/<str:advice_id>",
        _endpoint(handlers.reverse_refund, "REFUND_REVERSAL"),
        name="refund-reversal",
    ),
]
