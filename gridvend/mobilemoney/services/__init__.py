"""The mobile-money use cases, one module per family (setup, payments, stk, books, suspense),
re-exported here so that callers write ``services.receive_payment(...)``."""

from gridvend.mobilemoney.services.books import (
    backfill,
    receive_confirmation,
    reconcile_day,
    reconcile_statement,
)
from gridvend.mobilemoney.services.payments import (
    REFUND_DECISION,
    apply_reversal_result,
    approve_payment_refund,
    check_payment,
    receive_payment,
    record_manual_refund,
    reject_payment_refund,
    request_payment_refund,
    resolve_by_sale,
    settle,
)
from gridvend.mobilemoney.services.setup import (
    ProviderSettings,
    callback_secret,
    callback_urls,
    configure_provider,
    note_callback,
    rotate_callback_secret,
    secret_matches,
    store_callback,
)
from gridvend.mobilemoney.services.stk import apply_result, query_late_pushes, request_stk_push

__all__ = [
    "REFUND_DECISION",
    "ProviderSettings",
    "apply_result",
    "apply_reversal_result",
    "approve_payment_refund",
    "backfill",
    "callback_secret",
    "callback_urls",
    "check_payment",
    "configure_provider",
    "note_callback",
    "query_late_pushes",
    "receive_confirmation",
    "receive_payment",
    "reconcile_day",
    "reconcile_statement",
    "record_manual_refund",
    "reject_payment_refund",
    "request_payment_refund",
    "request_stk_push",
    "resolve_by_sale",
    "rotate_callback_secret",
    "secret_matches",
    "settle",
    "store_callback",
]
