"""The partner use cases, one module per family (setup, selling, advices, floats), re-exported
here so callers write ``services.purchase(...)``."""

from gridvend.partners.services.advices import (
    AdviceAnswer,
    confirm,
    finalise_unconfirmed,
    reverse,
)
from gridvend.partners.services.floats import (
    TOP_UP_DECISION,
    after_sale,
    approve_top_up,
    check_low_float,
    check_low_floats,
    needs_second_person,
    reject_top_up,
    request_top_up,
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
    "TOP_UP_DECISION",
    "AdviceAnswer",
    "Answer",
    "Call",
    "add_partner_point",
    "after_sale",
    "approve_top_up",
    "check_low_float",
    "check_low_floats",
    "confirm",
    "create_partner",
    "finalise_unconfirmed",
    "free_basic",
    "key_change",
    "lookup",
    "needs_second_person",
    "partner_point",
    "pay_account",
    "purchase",
    "refusal_of",
    "reject_top_up",
    "report_fault",
    "request_top_up",
    "require_active",
    "reverse",
    "trial",
    "update_partner",
]
