"""The audit event types that the mobile-money services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class MobileEvent(StrEnum):
    PROVIDER_CONFIGURED = "mobile_provider.configured"
    PROVIDER_UPDATED = "mobile_provider.updated"
    PAYMENT_RECEIVED = "mobile_payment.received"
    PAYMENT_SOLD = "mobile_payment.sold"
    PAYMENT_CREDITED = "mobile_payment.credited"
    PAYMENT_SUSPENDED = "mobile_payment.suspended"
    PAYMENT_RESOLVED = "mobile_payment.resolved"
    PAYMENT_MERGED = "mobile_payment.merged"
    PAYMENT_RELEASED = "mobile_payment.released"
    REFUND_REQUESTED = "mobile_refund.requested"
    REFUND_APPROVED = "mobile_refund.approved"
    REFUND_REJECTED = "mobile_refund.rejected"
    REFUND_REVERSAL_SENT = "mobile_refund.reversal_sent"
    REFUND_COMPLETED = "mobile_refund.completed"
    REFUND_FAILED = "mobile_refund.failed"
    REFUND_PAID_BY_HAND = "mobile_refund.paid_by_hand"
    STK_REQUESTED = "stk_push.requested"
    STK_ANSWERED = "stk_push.answered"
    RECONCILIATION_RUN = "mobile_reconciliation.run"
