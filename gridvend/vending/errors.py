"""Refusals of the vending app (sales, free energy, reversals, shifts) with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class VendingErrorCode(StrEnum):
    VENDING_POINT_INACTIVE = "VENDING_POINT_INACTIVE"
    VENDING_POINT_ADDRESS_REFUSED = "VENDING_POINT_ADDRESS_REFUSED"
    METER_FAULTY = "METER_FAULTY"
    CUSTOMER_NOT_ACTIVE = "CUSTOMER_NOT_ACTIVE"
    CLIENT_REFERENCE_INVALID = "CLIENT_REFERENCE_INVALID"
    PAYMENT_METHOD_INVALID = "PAYMENT_METHOD_INVALID"
    PAYMENT_REFERENCE_INVALID = "PAYMENT_REFERENCE_INVALID"
    CASH_RECEIVED_INVALID = "CASH_RECEIVED_INVALID"
    CASH_RECEIVED_TOO_LOW = "CASH_RECEIVED_TOO_LOW"
    QUOTE_CHANGED = "QUOTE_CHANGED"
    FLOAT_NOT_USED = "FLOAT_NOT_USED"
    FBE_NOT_DUE = "FBE_NOT_DUE"
    FREE_ISSUE_NEEDS_APPROVAL = "FREE_ISSUE_NEEDS_APPROVAL"
    ENGINEERING_KIND_INVALID = "ENGINEERING_KIND_INVALID"
    CREDIT_TRANSFER_ABOVE_LIMIT = "CREDIT_TRANSFER_ABOVE_LIMIT"
    SALE_NOT_REVERSIBLE = "SALE_NOT_REVERSIBLE"
    SALE_ALREADY_REVERSED = "SALE_ALREADY_REVERSED"
    REVERSAL_WINDOW_CLOSED = "REVERSAL_WINDOW_CLOSED"
    REVERSAL_ALREADY_REQUESTED = "REVERSAL_ALREADY_REQUESTED"
    SHIFT_NOT_OPEN = "SHIFT_NOT_OPEN"
    SHIFT_ALREADY_OPEN = "SHIFT_ALREADY_OPEN"
    SHIFT_CLOSED = "SHIFT_CLOSED"
    SHIFT_NOT_CLOSED = "SHIFT_NOT_CLOSED"
    SHIFT_FORCE_CLOSE_OWN = "SHIFT_FORCE_CLOSE_OWN"
    SHIFT_NOT_ABANDONED = "SHIFT_NOT_ABANDONED"
    SHIFT_ALREADY_SIGNED_OFF = "SHIFT_ALREADY_SIGNED_OFF"
    TENDER_TYPE_INVALID = "TENDER_TYPE_INVALID"
    COUNT_REQUIRED = "COUNT_REQUIRED"
    KEY_CHANGE_NOT_PENDING = "KEY_CHANGE_NOT_PENDING"
    NO_DEBT_OUTSTANDING = "NO_DEBT_OUTSTANDING"
    DEBT_PAYMENT_ABOVE_BALANCE = "DEBT_PAYMENT_ABOVE_BALANCE"
    WALLET_METER_NOT_OWN = "WALLET_METER_NOT_OWN"
    OFFLINE_SALE_INVALID = "OFFLINE_SALE_INVALID"


class VendingRefused(DomainError):
    """A vending step refused; nothing was written (the base of every vending refusal)."""


class ShiftError(VendingRefused):
    """A cashier-shift step refused (opening, closing, force-closing, signing off)."""


# --- selling: the point, the meter, the request ----------------------------------------------


class VendingPointInactive(VendingRefused):
    code = VendingErrorCode.VENDING_POINT_INACTIVE
    message_template = gettext_lazy("This vending point is not active; it cannot sell.")

    def __init__(self, *, vending_point: str) -> None:
        super().__init__(vending_point=vending_point)


class VendingPointAddressRefused(VendingRefused):
    code = VendingErrorCode.VENDING_POINT_ADDRESS_REFUSED
    message_template = gettext_lazy(
        "Sales from this network address are not allowed at this vending point."
    )

    def __init__(self, *, vending_point: str) -> None:
        super().__init__(vending_point=vending_point)


class MeterFaulty(VendingRefused):
    code = VendingErrorCode.METER_FAULTY
    message_template = gettext_lazy("Meter %(meter_number)s is registered as faulty.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class CustomerNotActive(VendingRefused):
    code = VendingErrorCode.CUSTOMER_NOT_ACTIVE
    message_template = gettext_lazy("The customer account is not active.")

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)


class ClientReferenceInvalid(VendingRefused):
    code = VendingErrorCode.CLIENT_REFERENCE_INVALID
    message_template = gettext_lazy("Every request needs a reference of 1 to 64 characters.")

    def __init__(self) -> None:
        super().__init__()


class PaymentMethodInvalid(VendingRefused):
    code = VendingErrorCode.PAYMENT_METHOD_INVALID
    message_template = gettext_lazy("Unknown payment method.")

    def __init__(self, *, payment_method: str) -> None:
        super().__init__(payment_method=payment_method)


class WalletMeterNotOwn(VendingRefused):
    """A wallet pays only for its own customer's meters: checked under the sale's lock of the
    meter and its customer, so a meter moved to another customer meanwhile is not paid for."""

    code = VendingErrorCode.WALLET_METER_NOT_OWN
    message_template = gettext_lazy(
        "Meter %(meter_number)s is not a meter of this wallet's customer; nothing was sold."
    )

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class PaymentReferenceInvalid(VendingRefused):
    code = VendingErrorCode.PAYMENT_REFERENCE_INVALID
    message_template = gettext_lazy("A payment reference has at most 64 characters.")

    def __init__(self) -> None:
        super().__init__()


class CashReceivedInvalid(VendingRefused):
    code = VendingErrorCode.CASH_RECEIVED_INVALID
    message_template = gettext_lazy("Cash received is only recorded for cash payments.")

    def __init__(self) -> None:
        super().__init__()


class CashReceivedTooLow(VendingRefused):
    code = VendingErrorCode.CASH_RECEIVED_TOO_LOW
    extra_params = ("field",)
    message_template = gettext_lazy(
        "The cash received (%(received)s) is less than the amount due (%(due)s)."
    )

    def __init__(self, *, received: str, due: str) -> None:
        # ``field`` lets a form put the sentence beside the input it is about.
        super().__init__(field="cash_received", received=received, due=due)


class QuoteChanged(VendingRefused):
    code = VendingErrorCode.QUOTE_CHANGED
    message_template = gettext_lazy(
        "The price changed after the breakdown was shown: it is now %(due)s for "
        "%(kwh)s kWh. Nothing was sold; show the customer the new breakdown."
    )

    def __init__(self, *, due: str, kwh: str) -> None:
        super().__init__(due=due, kwh=kwh)


class FloatNotUsed(VendingRefused):
    code = VendingErrorCode.FLOAT_NOT_USED
    message_template = gettext_lazy("This vending point does not sell from a float.")

    def __init__(self, *, vending_point: str) -> None:
        super().__init__(vending_point=vending_point)


# --- free energy, engineering tokens, transfers ------------------------------------------------


class FbeNotDue(VendingRefused):
    code = VendingErrorCode.FBE_NOT_DUE
    message_template = gettext_lazy("No free basic electricity is due for this meter this month.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class FreeIssueNeedsApproval(VendingRefused):
    code = VendingErrorCode.FREE_ISSUE_NEEDS_APPROVAL
    message_template = gettext_lazy(
        "Free issues above %(limit)s kWh to one meter, or by one person, within %(hours)s "
        "hours need a second person's approval."
    )

    def __init__(
        self,
        *,
        limit: str,
        hours: int,
        meter_number: str | None = None,
        meter_kwh: str | None = None,
        issuer_kwh: str | None = None,
    ) -> None:
        params: dict[str, object] = {"limit": limit, "hours": hours}
        # The totals so far only exist when the period's issues were counted.
        if meter_number is not None:
            params.update(meter_number=meter_number, meter_kwh=meter_kwh, issuer_kwh=issuer_kwh)
        super().__init__(**params)


class EngineeringKindInvalid(VendingRefused):
    code = VendingErrorCode.ENGINEERING_KIND_INVALID
    message_template = gettext_lazy("Unknown engineering token.")

    def __init__(self, *, kind: str) -> None:
        super().__init__(kind=kind)


class CreditTransferAboveLimit(VendingRefused):
    code = VendingErrorCode.CREDIT_TRANSFER_ABOVE_LIMIT
    message_template = gettext_lazy(
        "Transfers above %(limit)s kWh need someone with the finance capability."
    )
    # One transfer above the limit, or this one with the transfers already made in the period.
    variant_param = "rule"
    message_variants = {
        "per_transfer": gettext_lazy(
            "Transfers above %(limit)s kWh need someone with the finance capability."
        ),
        "per_period": gettext_lazy(
            "Transfers above %(limit)s kWh within %(hours)s hours need someone with the "
            "finance capability."
        ),
    }

    def __init__(
        self, *, rule: str, limit: str, hours: int | None = None, already: str | None = None
    ) -> None:
        params: dict[str, object] = {"rule": rule, "limit": limit}
        if hours is not None:
            params.update(hours=hours, already=already)
        super().__init__(**params)


# --- reversals ---------------------------------------------------------------------------------


class SaleNotReversible(VendingRefused):
    code = VendingErrorCode.SALE_NOT_REVERSIBLE
    message_template = gettext_lazy("Only credit sales can be reversed.")
    # Asking for a reversal also needs the sale still completed; reversing checks that apart.
    variant_param = "step"
    message_variants = {
        "reverse": gettext_lazy("Only credit sales can be reversed."),
        "request": gettext_lazy("Only completed credit sales can be reversed."),
    }

    def __init__(self, *, sale: str, step: str) -> None:
        super().__init__(sale=sale, step=step)


class SaleAlreadyReversed(VendingRefused):
    code = VendingErrorCode.SALE_ALREADY_REVERSED
    message_template = gettext_lazy("This sale has already been reversed.")

    def __init__(self, *, sale: str) -> None:
        super().__init__(sale=sale)


class ReversalWindowClosed(VendingRefused):
    code = VendingErrorCode.REVERSAL_WINDOW_CLOSED
    message_template = gettext_lazy("Sales can only be reversed within %(hours)s hours.")

    def __init__(self, *, hours: float) -> None:
        super().__init__(hours=hours)


class ReversalAlreadyRequested(VendingRefused):
    code = VendingErrorCode.REVERSAL_ALREADY_REQUESTED
    message_template = gettext_lazy("A reversal of this sale is already waiting for approval.")

    def __init__(self, *, sale: str) -> None:
        super().__init__(sale=sale)


# --- cashier shifts ----------------------------------------------------------------------------


class ShiftNotOpen(ShiftError):
    code = VendingErrorCode.SHIFT_NOT_OPEN
    message_template = gettext_lazy("Open a shift at this vending point before selling.")

    def __init__(self, *, vending_point: str) -> None:
        super().__init__(vending_point=vending_point)


class ShiftAlreadyOpen(ShiftError):
    code = VendingErrorCode.SHIFT_ALREADY_OPEN
    message_template = gettext_lazy("You already have an open shift; close it first.")

    def __init__(self) -> None:
        super().__init__()


class ShiftClosed(ShiftError):
    code = VendingErrorCode.SHIFT_CLOSED
    message_template = gettext_lazy("This shift is closed.")
    # Selling on a closed shift needs a new shift; closing or counting it needs nothing more.
    variant_param = "action"
    message_variants = {
        "sell": gettext_lazy("This shift is closed; open a new one to sell."),
        "change": gettext_lazy("This shift is closed and cannot change."),
    }

    def __init__(self, *, action: str) -> None:
        super().__init__(action=action)


class ShiftNotClosed(ShiftError):
    code = VendingErrorCode.SHIFT_NOT_CLOSED
    message_template = gettext_lazy("Only a closed shift can be signed off.")

    def __init__(self) -> None:
        super().__init__()


class ShiftForceCloseOwn(ShiftError):
    code = VendingErrorCode.SHIFT_FORCE_CLOSE_OWN
    message_template = gettext_lazy("Close your own shift with a count of the drawer.")

    def __init__(self) -> None:
        super().__init__()


class ShiftNotAbandoned(ShiftError):
    code = VendingErrorCode.SHIFT_NOT_ABANDONED
    message_template = gettext_lazy(
        "A shift can be force-closed only after it has been open %(hours)s hours."
    )

    def __init__(self, *, hours: int) -> None:
        super().__init__(hours=hours)


class ShiftAlreadySignedOff(ShiftError):
    code = VendingErrorCode.SHIFT_ALREADY_SIGNED_OFF
    message_template = gettext_lazy("This shift has already been signed off.")

    def __init__(self) -> None:
        super().__init__()


class TenderTypeInvalid(ShiftError):
    code = VendingErrorCode.TENDER_TYPE_INVALID
    message_template = gettext_lazy("Unknown tender type.")

    def __init__(self, *, method: str) -> None:
        super().__init__(method=method)


class CountRequired(ShiftError):
    code = VendingErrorCode.COUNT_REQUIRED
    extra_params = ("field",)
    message_template = gettext_lazy("Count the drawer with a witness and enter the cash found.")

    def __init__(self) -> None:
        super().__init__(field="witnessed_cash")


class KeyChangeNotPending(VendingRefused):
    code = VendingErrorCode.KEY_CHANGE_NOT_PENDING
    message_template = gettext_lazy("Meter %(meter_number)s has no key change waiting.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class NoDebtOutstanding(VendingRefused):
    code = VendingErrorCode.NO_DEBT_OUTSTANDING
    message_template = gettext_lazy(
        "Customer %(account_number)s owes nothing: there is no debt to pay."
    )

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)


class DebtPaymentAboveBalance(VendingRefused):
    code = VendingErrorCode.DEBT_PAYMENT_ABOVE_BALANCE
    message_template = gettext_lazy(
        "The payment (%(amount)s) is more than the customer owes (%(owed)s). Pay at most what is "
        "owed, and buy a token with the rest."
    )

    def __init__(self, *, amount: str, owed: str) -> None:
        super().__init__(amount=amount, owed=owed)


class OfflineSaleInvalid(VendingRefused):
    """A sale recorded by an offline station cannot be recorded as it says (a field out of
    shape, a meter or customer the master does not know, a token that does not decode as
    claimed): nothing of it is written."""

    code = VendingErrorCode.OFFLINE_SALE_INVALID
    message_template = gettext_lazy(
        "The offline sale %(reference)s cannot be recorded: %(problem)s."
    )

    def __init__(self, *, reference: str, problem: str) -> None:
        super().__init__(reference=reference[:40], problem=problem[:200])
