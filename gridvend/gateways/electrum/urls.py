"""The Electrum Prepaid Utility v3 resources (all POST) under /prepaidutility/v3/."""

from django.urls import path

from gridvend.gateways.electrum import handlers
from gridvend.gateways.electrum.views import endpoint

app_name = "electrum"

PURCHASE = "tokenPurchases/<str:purchase_id>"
KEY_CHANGE = "keyChangeTokenRequests/<str:request_id>"

urlpatterns = [
    path(
        "meterLookups/<str:lookup_id>",
        endpoint(handlers.meter_lookup, "METER_LOOKUP_REQUEST"),
        name="meter-lookup",
    ),
    path(
        PURCHASE,
        endpoint(handlers.first_purchase, "TOKEN_PURCHASE_REQUEST"),
        name="token-purchase",
    ),
    path(
        f"{PURCHASE}/retry",
        endpoint(handlers.retry_purchase, "TOKEN_PURCHASE_RETRY_REQUEST"),
        name="token-purchase-retry",
    ),
    path(
        f"{PURCHASE}/trial",
        endpoint(handlers.trial, "TOKEN_PURCHASE_TRIAL_REQUEST"),
        name="token-purchase-trial",
    ),
    path(
        f"{PURCHASE}/confirmations/<str:advice_id>",
        endpoint(handlers.confirm, "CONFIRMATION_ADVICE"),
        name="token-purchase-confirmation",
    ),
    path(
        f"{PURCHASE}/reversals/<str:advice_id>",
        endpoint(handlers.reverse, "REVERSAL_ADVICE"),
        name="token-purchase-reversal",
    ),
    path(
        "tokenReprints/<str:reprint_id>",
        endpoint(handlers.reprint, "TOKEN_REPRINT_REQUEST"),
        name="token-reprint",
    ),
    path(KEY_CHANGE, endpoint(handlers.key_change, "KEY_CHANGE_TOKEN_REQUEST"), name="key-change"),
    path(
        f"{KEY_CHANGE}/confirmations/<str:advice_id>",
        endpoint(handlers.confirm, "CONFIRMATION_ADVICE"),
        name="key-change-confirmation",
    ),
    path(
        "faultReports/<str:request_id>",
        endpoint(handlers.fault_report, "FAULT_REPORT_REQUEST"),
        name="fault-report",
    ),
]
