"""Refusals of postpaid billing (runs, bills, payments) with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class BillingErrorCode(StrEnum):
    ACCOUNT_NOT_POSTPAID = "ACCOUNT_NOT_POSTPAID"
    ACCOUNT_NOT_PREPAID_LINKED = "ACCOUNT_NOT_PREPAID_LINKED"
    PAYMENT_REFERENCE_REUSED = "PAYMENT_REFERENCE_REUSED"
    PAYMENT_ALREADY_CANCELLED = "PAYMENT_ALREADY_CANCELLED"
    PAYMENT_REFERENCE_CANCELLED = "PAYMENT_REFERENCE_CANCELLED"
    PAYMENT_CANCEL_TOO_LATE = "PAYMENT_CANCEL_TOO_LATE"
    PAYMENT_ALREADY_RECONCILED = "PAYMENT_ALREADY_RECONCILED"
    PAYMENT_AMOUNT_INVALID = "PAYMENT_AMOUNT_INVALID"
    PAYMENT_ABOVE_CLOSED_BALANCE = "PAYMENT_ABOVE_CLOSED_BALANCE"
    PAYMENT_NOT_CANCELLABLE = "PAYMENT_NOT_CANCELLABLE"
    BILLING_RUN_NOT_LATEST = "BILLING_RUN_NOT_LATEST"
    BILL_PAYMENT_REFERENCE_INVALID = "BILL_PAYMENT_REFERENCE_INVALID"
    PAYMENT_SHIFT_NOT_OPEN = "PAYMENT_SHIFT_NOT_OPEN"
    BILLING_PERIOD_INVALID = "BILLING_PERIOD_INVALID"
    BILLING_RUN_EXISTS = "BILLING_RUN_EXISTS"
    BILLING_RUN_NOT_PREVIEWED = "BILLING_RUN_NOT_PREVIEWED"
    BILLING_RUN_NOT_POSTED = "BILLING_RUN_NOT_POSTED"
    BILLING_RUN_EMPTY = "BILLING_RUN_EMPTY"
    BILLING_RUN_STALE = "BILLING_RUN_STALE"
    ACCOUNT_HAS_OPEN_BILLS = "ACCOUNT_HAS_OPEN_BILLS"
    BILL_ON_SITE_UNAVAILABLE = "BILL_ON_SITE_UNAVAILABLE"


class AccountNotPostpaid(DomainError):
    code = BillingErrorCode.ACCOUNT_NOT_POSTPAID
    message_template = gettext_lazy(
        "Account %(account_number)s is prepaid only: it has no bills to pay."
    )

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)


class AccountNotPrepaidLinked(DomainError):
    code = BillingErrorCode.ACCOUNT_NOT_PREPAID_LINKED
    message_template = gettext_lazy(
        "Account %(account_number)s is not both prepaid and postpaid: its arrears cannot be "
        "recovered by token sales."
    )

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)


class PaymentReferenceReused(DomainError):
    code = BillingErrorCode.PAYMENT_REFERENCE_REUSED
    message_template = gettext_lazy(
        "Reference %(reference)s was already used for a payment of another amount or account."
    )

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference)


class PaymentAlreadyCancelled(DomainError):
    code = BillingErrorCode.PAYMENT_ALREADY_CANCELLED
    message_template = gettext_lazy("This payment has already been cancelled.")

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference)


class PaymentReferenceCancelled(DomainError):
    code = BillingErrorCode.PAYMENT_REFERENCE_CANCELLED
    message_template = gettext_lazy(
        "The payment under reference %(reference)s was cancelled: pay again under a new reference."
    )

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference)


class PaymentCancelTooLate(DomainError):
    code = BillingErrorCode.PAYMENT_CANCEL_TOO_LATE
    message_template = gettext_lazy(
        "A payment can be cancelled only on the business day it was taken (%(business_date)s)."
    )

    def __init__(self, *, business_date: str) -> None:
        super().__init__(business_date=business_date)


class PaymentAlreadyReconciled(DomainError):
    code = BillingErrorCode.PAYMENT_ALREADY_RECONCILED
    message_template = gettext_lazy(
        "This payment has been reconciled with the bank and can no longer be cancelled."
    )

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference)


class PaymentAmountInvalid(DomainError):
    code = BillingErrorCode.PAYMENT_AMOUNT_INVALID
    message_template = gettext_lazy(
        "A payment must be above zero and at most %(maximum)s minor units."
    )

    def __init__(self, *, maximum: int) -> None:
        super().__init__(maximum=maximum)


class PaymentAboveClosedBalance(DomainError):
    code = BillingErrorCode.PAYMENT_ABOVE_CLOSED_BALANCE
    message_template = gettext_lazy(
        "Account %(account_number)s is closed and owes %(owed)s minor units: it takes no more "
        "than that (a closed account never has another bill for credit to pay)."
    )

    def __init__(self, *, account_number: str, owed: int) -> None:
        super().__init__(account_number=account_number, owed=owed)


class PaymentNotCancellable(DomainError):
    code = BillingErrorCode.PAYMENT_NOT_CANCELLABLE
    message_template = gettext_lazy(
        "%(reference)s is not money anyone paid (a credit carried by a bill, or what prepaid "
        "sales recovered): it is taken back only with the billing run or the sales that made it."
    )

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference)


class BillingRunNotLatest(DomainError):
    code = BillingErrorCode.BILLING_RUN_NOT_LATEST
    message_template = gettext_lazy(
        "A later billing run (%(later)s) billed meters of this run from its readings: cancel "
        "the later run first."
    )

    def __init__(self, *, later: str) -> None:
        super().__init__(later=later)


class PaymentReferenceInvalid(DomainError):
    code = BillingErrorCode.BILL_PAYMENT_REFERENCE_INVALID
    message_template = gettext_lazy(
        "A payment reference is 1 to 64 printable characters without spaces at either end."
    )

    def __init__(self) -> None:
        super().__init__()


class PaymentShiftNotOpen(DomainError):
    code = BillingErrorCode.PAYMENT_SHIFT_NOT_OPEN
    message_template = gettext_lazy("Cash is taken within your open shift. Open a shift first.")

    def __init__(self) -> None:
        super().__init__()


class BillingPeriodInvalid(DomainError):
    code = BillingErrorCode.BILLING_PERIOD_INVALID
    message_template = gettext_lazy(
        "The billing period must end on or after its start, not in the future, and be at most "
        "%(max_days)s days; the due date must not be before the issue date."
    )

    def __init__(self, *, max_days: int) -> None:
        super().__init__(max_days=max_days)


class BillingRunExists(DomainError):
    code = BillingErrorCode.BILLING_RUN_EXISTS
    message_template = gettext_lazy(
        "Book %(book)s already has a run for the period starting %(period_start)s. "
        "Discard or cancel it first."
    )

    def __init__(self, *, book: str, period_start: str) -> None:
        super().__init__(book=book, period_start=period_start)


class BillingRunNotPreviewed(DomainError):
    code = BillingErrorCode.BILLING_RUN_NOT_PREVIEWED
    message_template = gettext_lazy("Only a previewed run can be sent for approval or discarded.")

    def __init__(self, *, status: str) -> None:
        super().__init__(status=status)


class BillingRunNotPosted(DomainError):
    code = BillingErrorCode.BILLING_RUN_NOT_POSTED
    message_template = gettext_lazy("Only a posted run can be cancelled.")

    def __init__(self, *, status: str) -> None:
        super().__init__(status=status)


class BillingRunEmpty(DomainError):
    code = BillingErrorCode.BILLING_RUN_EMPTY
    message_template = gettext_lazy("This run has no bills to post.")

    def __init__(self) -> None:
        super().__init__()


class BillingRunStale(DomainError):
    code = BillingErrorCode.BILLING_RUN_STALE
    message_template = gettext_lazy(
        "Meter %(meter)s was billed, or the bill this run reckoned it from was cancelled, since "
        "the run was previewed: discard the run and preview it again."
    )

    def __init__(self, *, meter: str, problem: str) -> None:
        super().__init__(meter=meter, problem=problem)


class AccountHasOpenBills(DomainError):
    code = BillingErrorCode.ACCOUNT_HAS_OPEN_BILLS
    message_template = gettext_lazy(
        "Account %(account_number)s still owes %(owed)s minor units on its bills, or has a bill "
        "in a run not yet posted: it cannot become prepaid only until they are settled. Make it "
        "both prepaid and postpaid to keep its bills payable and let token purchases recover "
        "the arrears."
    )

    def __init__(self, *, account_number: str, owed: int) -> None:
        super().__init__(account_number=account_number, owed=owed)


class BillOnSiteUnavailable(DomainError):
    """The central run would not bill this reading (``reason`` is the run's own word for why:
    open_exception, already_billed, billed_later, pending_elsewhere, currency, not_on_a_route,
    not_standing, superseded: a later reading of the cycle is the one the run bills), so no
    bill on site is shown for it."""

    code = BillingErrorCode.BILL_ON_SITE_UNAVAILABLE
    message_template = gettext_lazy("No bill can be computed on site for this reading: %(reason)s.")

    def __init__(self, *, reason: str) -> None:
        super().__init__(reason=reason)
