"""The partner use cases, one module per family (setup, selling, advices), re-exported here so
callers write ``services.purchase(...)``."""

from gridvend.partners.services.advices import (
    AdviceAnswer,
    confirm,
    finalise_unconfirmed,
    reverse,
)
from gridvend.partners.services.selling import (
    Answer,
    Call,
    free_basic,
    key_change,
    lookup,
    partner_point,
    pay_account,
    purchase,
    refusal_of,
    report_fault,
    require_active,
    trial,
)
from gridvend.partners.services.setup import add_partner_point, create_partner, update_partner

__all__ = [
    "AdviceAnswer",
    "Answer",
    "Call",
    "add_partner_point",
    "confirm",
    "create_partner",
    "finalise_unconfirmed",
    "free_basic",
    "key_change",
    "lookup",
    "partner_point",
    "pay_account",
    "purchase",
    "refusal_of",
    "report_fault",
    "require_active",
    "reverse",
    "trial",
    "update_partner",
]
