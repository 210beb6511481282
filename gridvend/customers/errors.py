"""Refusals of the customers app (accounts, status, premises, debts) with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money


class CustomerErrorCode(StrEnum):
    ACCOUNT_NUMBER_TAKEN = "ACCOUNT_NUMBER_TAKEN"
    ACCOUNT_NUMBER_INVALID = "ACCOUNT_NUMBER_INVALID"
    TARIFF_NOT_APPLICABLE = "TARIFF_NOT_APPLICABLE"
    CUSTOMER_STATUS_UNCHANGED = "CUSTOMER_STATUS_UNCHANGED"
    CUSTOMER_CLOSED = "CUSTOMER_CLOSED"
    DEBT_AMOUNT_INVALID = "DEBT_AMOUNT_INVALID"


class AccountNumberTaken(DomainError):
    code = CustomerErrorCode.ACCOUNT_NUMBER_TAKEN
    message_template = gettext_lazy(
        "Account number %(account_number)s is already used by another customer."
    )

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)


class AccountNumberInvalid(DomainError):
    code = CustomerErrorCode.ACCOUNT_NUMBER_INVALID
    message_template = gettext_lazy("An account number is up to 20 letters, digits or dashes.")

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)


class TariffNotApplicable(DomainError):
    code = CustomerErrorCode.TARIFF_NOT_APPLICABLE
    message_template = gettext_lazy("Tariff %(tariff)s does not apply in this customer's area.")

    def __init__(self, *, tariff: str) -> None:
        super().__init__(tariff=tariff)


class CustomerStatusUnchanged(DomainError):
    code = CustomerErrorCode.CUSTOMER_STATUS_UNCHANGED
    message_template = gettext_lazy("The customer's status is already %(status)s.")

    def __init__(self, *, status: str) -> None:
        super().__init__(status=status)


class CustomerClosed(DomainError):
    code = CustomerErrorCode.CUSTOMER_CLOSED
    message_template = gettext_lazy("Account %(account_number)s is closed.")

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)


class DebtAmountInvalid(DomainError):
    code = CustomerErrorCode.DEBT_AMOUNT_INVALID
    message_template = gettext_lazy("A debt must be an amount greater than zero.")

    def __init__(self, *, amount: Money) -> None:
        super().__init__(amount=amount)
