"""Refusals of the keys app (vending keys and the token engine) with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class KeyErrorCode(StrEnum):
    VENDING_KEY_UNAVAILABLE = "VENDING_KEY_UNAVAILABLE"
    TOKEN_GENERATION_REFUSED = "TOKEN_GENERATION_REFUSED"


class VendingKeyUnavailable(DomainError):
    code = KeyErrorCode.VENDING_KEY_UNAVAILABLE
    message_template = gettext_lazy(
        "The vending key for this meter is not available; call the key custodian."
    )

    def __init__(self, key_ref: str) -> None:
        super().__init__(key_ref=key_ref)


class TokenRefused(DomainError):
    """The STS library refused the token; ``detail`` is its own (English) reason."""

    code = KeyErrorCode.TOKEN_GENERATION_REFUSED
    message_template = gettext_lazy("The token engine refused this token: %(detail)s")

    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail)
