"""The audit event types that the wallet services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class WalletEvent(StrEnum):
    OPENED = "wallet.opened"
    TOPPED_UP = "wallet.topped_up"
    AUTO_PURCHASE_SET = "wallet.auto_purchase_set"
    BILL_PAID = "wallet.bill_paid"
    CARD_PAYMENT_CREATED = "card_payment.created"
    CARD_PAYMENT_COMPLETED = "card_payment.completed"
    CARD_PAYMENT_FAILED = "card_payment.failed"
    TRANSFER_IMPORTED = "bank_transfer.imported"
    TRANSFER_MATCHED = "bank_transfer.matched"
