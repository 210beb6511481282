"""The audit event types that customer-login services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class LoginEvent(StrEnum):
    CODE_SENT = "portal_code.sent"
    CODE_REJECTED = "portal_code.rejected"
    PROOF_REFUSED = "portal_proof.refused"
    CREATED = "portal_login.created"
    SIGNED_IN = "portal_login.signed_in"
    SIGN_IN_FAILED = "portal_login.sign_in_failed"
    LOCKED_OUT = "portal_login.locked_out"
    PASSWORD_RESET = "portal_login.password_reset"
    METER_LINKED = "portal_login.meter_linked"
    PURCHASE_STARTED = "portal_purchase.started"
    WALLET_PURCHASE = "portal_purchase.from_wallet"
    RECEIPT_COPY = "portal_receipt.copy"
    FAULT_REPORTED = "portal_fault.reported"
    TOTP_STARTED = "portal_login.totp_started"
    TOTP_CONFIRMED = "portal_login.totp_confirmed"
    TOTP_REMOVED = "portal_login.totp_removed"
    TOTP_REJECTED = "portal_login.totp_rejected"
