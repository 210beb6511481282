"""The billing use cases, one module per family (payments, runs, late fees, the prepaid link
of arrears), re-exported here so callers write ``services.take_payment(...)``.

Every write is one use case: one transaction, its ledger entry and its audit event inside it.
Lock order: run, then customers by id, then each customer's open bills, then payments.
"""

from gridvend.billing.services.arrears import (
    apply_recoveries,
    recoveries_job,
    transfer_arrears_to_debt,
)
from gridvend.billing.services.common import (
    ADJUSTMENT_REVENUE,
    ARREARS_CLEARING,
    DEBT_SOURCE,
    MAX_ADJUSTMENT_MINOR,
    MAX_BANK_FACTS,
    MAX_PERIOD_DAYS,
    RECOVERY_CHANNEL,
    business_today,
    receivable_code,
)
from gridvend.billing.services.late_fees import (
    charge_late_fee,
    charge_late_fees,
    late_fees_job,
)
from gridvend.billing.services.payments import (
    cancel_payment,
    mark_reconciled,
    require_cancellable,
    require_payable_if_closed,
    take_payment,
)
from gridvend.billing.services.runs import (
    CANCEL_DECISION,
    POST_DECISION,
    adjust_bill,
    approve_run_decision,
    default_period,
    discard_run,
    preview_run,
    reject_run_decision,
    request_cancellation,
    request_posting,
)

__all__ = [
    "ADJUSTMENT_REVENUE",
    "ARREARS_CLEARING",
    "CANCEL_DECISION",
    "DEBT_SOURCE",
    "MAX_ADJUSTMENT_MINOR",
    "MAX_BANK_FACTS",
    "MAX_PERIOD_DAYS",
    "POST_DECISION",
    "RECOVERY_CHANNEL",
    "adjust_bill",
    "apply_recoveries",
    "approve_run_decision",
    "business_today",
    "cancel_payment",
    "charge_late_fee",
    "charge_late_fees",
    "default_period",
    "discard_run",
    "late_fees_job",
    "mark_reconciled",
    "preview_run",
    "receivable_code",
    "recoveries_job",
    "reject_run_decision",
    "request_cancellation",
    "request_posting",
    "require_cancellable",
    "require_payable_if_closed",
    "take_payment",
    "transfer_arrears_to_debt",
]
