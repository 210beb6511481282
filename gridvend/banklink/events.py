"""The audit event types that the bank-link services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class BankLinkEvent(StrEnum):
    LINK_CONFIGURED = "bank_link.configured"
    LINK_UPDATED = "bank_link.updated"
    BILLPAY_PAYMENT_REQUESTED = "billpay_payment.requested"
    BILLPAY_PAYMENT_CONFIRMED = "billpay_payment.confirmed"
    BILLPAY_PAYMENT_REVERSED = "billpay_payment.reversed"
    BILLPAY_REFUND_REQUESTED = "billpay_refund.requested"
    BILLPAY_REFUND_CONFIRMED = "billpay_refund.confirmed"
    BILLPAY_REFUND_REVERSED = "billpay_refund.reversed"
    RECONCILIATION_RECEIVED = "bank_reconciliation.received"
    DISCREPANCY_RESOLVED = "bank_reconciliation.discrepancy_resolved"
    RECONCILIATION_CLOSED = "bank_reconciliation.closed"
    RECONCILIATION_SUPERSEDED = "bank_reconciliation.superseded"
