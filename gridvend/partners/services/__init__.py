"""The partner use cases, one module per family (setup, selling, advices, reconciliation),
re-exported here so callers write ``services.purchase(...)``."""

from gridvend.partners.services.advices import (
    AdviceAnswer,
    confirm,
    finalise_unconfirmed,
    reverse,
)
from gridvend.partners.services.reconciliation import (
    RESOLUTION_DECISION,
    approve_resolution,
    reject_resolution,
    resolve_item,
    run_daily_reconciliations,
    upload_settlement_file,
)
from gridvend.partners.services.selling import (
    Answer,
    Call,
    disclosed_address,
    free_basic,
    key_change,
    lookup,
    partner_point,
    pay_account,
    purchase,
    refusal_of,
    report_fault,
    reprint,
    require_active,
    trial,
)
from gridvend.partners.services.setup import add_partner_point, create_partner, update_partner

__all__ = [
    "RESOLUTION_DECISION",
    "AdviceAnswer",
    "Answer",
    "Call",
    "add_partner_point",
    "approve_resolution",
    "confirm",
    "create_partner",
    "disclosed_address",
    "finalise_unconfirmed",
    "free_basic",
    "key_change",
    "lookup",
    "partner_point",
    "pay_account",
    "purchase",
    "refusal_of",
    "reject_resolution",
    "report_fault",
    "reprint",
    "require_active",
    "resolve_item",
    "reverse",
    "run_daily_reconciliations",
    "trial",
    "update_partner",
    "upload_settlement_file",
]
