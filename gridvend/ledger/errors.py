"""Refusals of the ledger with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class LedgerErrorCode(StrEnum):
    BALANCE_LIMIT = "BALANCE_LIMIT"


class BalanceLimitReached(DomainError):
    """The database refused a posting that would raise a kept balance above its limit (a sale
    beyond a float, say); nothing of the entry was written."""

    code = LedgerErrorCode.BALANCE_LIMIT
    message_template = gettext_lazy(
        "Account %(account)s has reached its limit; the amount was not posted."
    )

    def __init__(self, *, account: str) -> None:
        super().__init__(account=account)
