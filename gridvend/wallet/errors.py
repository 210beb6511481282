"""Refusals of the wallet (top-ups, purchases, card payments and their callbacks, bank
transfers) with stable codes; each channel maps them to its own error shape in one place."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError


class WalletErrorCode(StrEnum):
    WALLET_NOT_FOUND = "WALLET_NOT_FOUND"
    WALLET_INSUFFICIENT = "WALLET_INSUFFICIENT"
    WALLET_AMOUNT_INVALID = "WALLET_AMOUNT_INVALID"
    WALLET_REFERENCE_REUSED = "WALLET_REFERENCE_REUSED"
    WALLET_SHIFT_NOT_OPEN = "WALLET_SHIFT_NOT_OPEN"
    WALLET_AUTO_PURCHASE_INVALID = "WALLET_AUTO_PURCHASE_INVALID"
    WALLET_SELLER_UNSET = "WALLET_SELLER_UNSET"
    WALLET_BILL_NOT_OWN = "WALLET_BILL_NOT_OWN"
    CARD_PROVIDER_UNKNOWN = "CARD_PROVIDER_UNKNOWN"
    CARD_CALLBACK_INVALID = "CARD_CALLBACK_INVALID"
    CARD_SIGNATURE_INVALID = "CARD_SIGNATURE_INVALID"
    CARD_PAYMENT_UNKNOWN = "CARD_PAYMENT_UNKNOWN"
    CARD_PAYMENT_MISMATCH = "CARD_PAYMENT_MISMATCH"
    TRANSFER_FILE_INVALID = "TRANSFER_FILE_INVALID"
    TRANSFER_NOT_UNMATCHED = "TRANSFER_NOT_UNMATCHED"


class WalletRefused(DomainError):
    """A wallet step refused; nothing was written."""


class WalletNotFound(NotFound):
    """Unknown, or outside the actor's part of the organisation (the two look the same: 404)."""

    code = WalletErrorCode.WALLET_NOT_FOUND  # type: ignore[assignment]
    message_template = gettext_lazy("There is no wallet %(wallet)s.")

    def __init__(self, *, wallet: str) -> None:
        DomainError.__init__(self, wallet=wallet[:40])


class WalletInsufficient(WalletRefused):
    code = WalletErrorCode.WALLET_INSUFFICIENT
    message_template = gettext_lazy(
        "The wallet holds %(available)s; this purchase needs %(required)s. Nothing was sold."
    )

    def __init__(self, *, available: str, required: str) -> None:
        super().__init__(available=available, required=required)


class WalletAmountInvalid(WalletRefused):
    code = WalletErrorCode.WALLET_AMOUNT_INVALID
    message_template = gettext_lazy(
        "The amount must be above zero and at most %(maximum)s, in the wallet's currency."
    )

    def __init__(self, *, maximum: str) -> None:
        super().__init__(maximum=maximum)


class WalletReferenceReused(WalletRefused):
    code = WalletErrorCode.WALLET_REFERENCE_REUSED
    message_template = gettext_lazy(
        "The reference %(reference)s was already used for another top-up; nothing was credited."
    )

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference[:64])


class WalletShiftNotOpen(WalletRefused):
    code = WalletErrorCode.WALLET_SHIFT_NOT_OPEN
    message_template = gettext_lazy(
        "Cash is taken into a wallet only in your own open shift; open a shift first."
    )

    def __init__(self) -> None:
        super().__init__()


class WalletAutoPurchaseInvalid(WalletRefused):
    code = WalletErrorCode.WALLET_AUTO_PURCHASE_INVALID
    message_template = gettext_lazy(
        "Auto-purchase needs one of the customer's meters, a threshold and an amount above "
        "zero, and an amount no larger than the threshold."
    )

    def __init__(self) -> None:
        super().__init__()


class WalletSellerUnset(WalletRefused):
    """No seller is configured for purchases a channel makes from a wallet by itself (the
    portal's): ``GRIDVEND_WALLET_VENDING_POINT`` and ``GRIDVEND_WALLET_SELLER``."""

    code = WalletErrorCode.WALLET_SELLER_UNSET
    message_template = gettext_lazy(
        "Paying from the wallet is not available now. Nothing was paid; pay by mobile money."
    )

    def __init__(self) -> None:
        super().__init__()


class WalletBillNotOwn(WalletRefused):
    code = WalletErrorCode.WALLET_BILL_NOT_OWN
    message_template = gettext_lazy(
        "A wallet pays only its own customer's bills; nothing was paid."
    )

    def __init__(self) -> None:
        super().__init__()


class CardProviderUnknown(WalletRefused):
    code = WalletErrorCode.CARD_PROVIDER_UNKNOWN
    message_template = gettext_lazy("There is no card payment provider %(provider)s.")

    def __init__(self, *, provider: str) -> None:
        super().__init__(provider=provider[:30])


class CardCallbackInvalid(WalletRefused):
    code = WalletErrorCode.CARD_CALLBACK_INVALID
    message_template = gettext_lazy("The payment provider's message cannot be read: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:120])


class CardSignatureInvalid(WalletRefused):
    code = WalletErrorCode.CARD_SIGNATURE_INVALID
    message_template = gettext_lazy(
        "The payment provider's signature does not match; the message was ignored."
    )

    def __init__(self) -> None:
        super().__init__()


class CardPaymentUnknown(WalletRefused):
    code = WalletErrorCode.CARD_PAYMENT_UNKNOWN
    message_template = gettext_lazy("There is no card payment %(reference)s.")

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference[:64])


class CardPaymentMismatch(WalletRefused):
    code = WalletErrorCode.CARD_PAYMENT_MISMATCH
    message_template = gettext_lazy(
        "The payment provider reported %(reported)s for payment %(reference)s, which was "
        "started for %(expected)s; nothing was credited."
    )

    def __init__(self, *, reference: str, reported: str, expected: str) -> None:
        super().__init__(reference=reference[:64], reported=reported[:40], expected=expected)


class TransferFileInvalid(WalletRefused):
    code = WalletErrorCode.TRANSFER_FILE_INVALID
    message_template = gettext_lazy(
        "The transfer file cannot be imported (line %(line)s: %(problem)s); nothing was imported."
    )

    def __init__(self, *, line: int, problem: str) -> None:
        super().__init__(line=line, problem=problem[:120])


class TransferNotUnmatched(WalletRefused):
    code = WalletErrorCode.TRANSFER_NOT_UNMATCHED
    message_template = gettext_lazy("Bank transfer %(reference)s was already credited.")

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference[:64])
