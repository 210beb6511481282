"""The audit event types that billing runs, bills and payments write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class BillingEvent(StrEnum):
    RUN_PREVIEWED = "billing_run.previewed"
    RUN_DISCARDED = "billing_run.discarded"
    # Posting and cancelling a run are two-person decisions (approvals).
    RUN_POST_REQUESTED = "billing_run.post_requested"
    RUN_POSTED = "billing_run.posted"
    RUN_POST_REJECTED = "billing_run.post_rejected"
    RUN_CANCEL_REQUESTED = "billing_run.cancel_requested"
    RUN_CANCELLED = "billing_run.cancelled"
    RUN_CANCEL_REJECTED = "billing_run.cancel_rejected"
    LATE_FEE_CHARGED = "bill.late_fee_charged"
    PAYMENT_RECEIVED = "bill_payment.received"
    PAYMENT_CANCELLED = "bill_payment.cancelled"
    PAYMENTS_RECONCILED = "bill_payment.reconciled"
