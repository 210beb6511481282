"""Every audit event type the vending app writes, declared once and registered with the audit log.

The values are the strings stored in the audit chain since the first release; never change one.
"""

from __future__ import annotations

from enum import StrEnum

from gridvend.audit.events import register


@register
class VendingEvent(StrEnum):
    # A new sale, one type per kind (see ``sale_created``).
    SALE_CREATED = "sale.created"
    SALE_FREE_ISSUE_ISSUED = "sale.free_issue_issued"
    SALE_FBE_ISSUED = "sale.fbe_issued"
    SALE_ENGINEERING_ISSUED = "sale.engineering_issued"
    SALE_KEY_CHANGE_ISSUED = "sale.key_change_issued"
    SALE_CREDIT_TRANSFER_ISSUED = "sale.credit_transfer_issued"
    SALE_DEBT_PAYMENT_ISSUED = "sale.debt_payment_issued"
    SALE_REVERSED = "sale.reversed"
    SALE_RECEIPT_PRINTED = "sale.receipt_printed"
    SALE_REPRINTED = "sale.reprinted"
    RECEIPT_VIEWED = "receipt.viewed"
    REFUND_RECORDED = "refund.recorded"
    REVERSAL_REQUESTED = "reversal.requested"
    REVERSAL_APPROVED = "reversal.approved"
    REVERSAL_REJECTED = "reversal.rejected"
    FREE_ISSUE_REQUESTED = "free_issue.requested"
    FREE_ISSUE_APPROVED = "free_issue.approved"
    FREE_ISSUE_REJECTED = "free_issue.rejected"
    FLOAT_TOPPED_UP = "float.topped_up"
    SHIFT_OPENED = "shift.opened"
    SHIFT_CLOSED = "shift.closed"
    SHIFT_FORCE_CLOSED = "shift.force_closed"
    SHIFT_SIGNED_OFF = "shift.signed_off"


def sale_created(kind: str) -> VendingEvent:
    """The audit event that records a new sale of this kind (and carries its digests)."""
    return VendingEvent.SALE_CREATED if kind == "credit" else VendingEvent(f"sale.{kind}_issued")
