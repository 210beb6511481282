"""Refusals of the bank link (link settings, Billpay requests and advices, raw messages, daily
reconciliation) with stable codes. Each channel maps them to its own form in one place:
``gateways/billpay/errors.py`` (Electrum ``ErrorDetail``) and ``gateways/banklink/handlers.py``
(the fixed-format return code)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class BankLinkErrorCode(StrEnum):
    BANK_LINK_INVALID = "BANK_LINK_INVALID"
    BANK_LINK_TAKEN = "BANK_LINK_TAKEN"
    BANK_LINK_NOT_BANK = "BANK_LINK_NOT_BANK"
    BANK_AGENCY_UNKNOWN = "BANK_AGENCY_UNKNOWN"
    BILLPAY_DUPLICATE_RECORD = "BILLPAY_DUPLICATE_RECORD"
    BILLPAY_RECORD_NOT_FOUND = "BILLPAY_RECORD_NOT_FOUND"
    BILLPAY_ALREADY_SETTLED = "BILLPAY_ALREADY_SETTLED"
    BILLPAY_ALREADY_REVERSED = "BILLPAY_ALREADY_REVERSED"
    BILLPAY_ADVICE_CONFLICT = "BILLPAY_ADVICE_CONFLICT"
    BILLPAY_REFUND_NOT_REFUNDABLE = "BILLPAY_REFUND_NOT_REFUNDABLE"
    BANK_RECONCILIATION_IN_PROGRESS = "BANK_RECONCILIATION_IN_PROGRESS"
    BANK_RECONCILIATION_DONE = "BANK_RECONCILIATION_DONE"
    BANK_RECONCILIATION_UNRESOLVED = "BANK_RECONCILIATION_UNRESOLVED"
    BANK_RECONCILIATION_FILE_INVALID = "BANK_RECONCILIATION_FILE_INVALID"
    BANK_RECONCILIATION_DATE_IN_FUTURE = "BANK_RECONCILIATION_DATE_IN_FUTURE"
    BANK_RECONCILIATION_SUPERSEDED = "BANK_RECONCILIATION_SUPERSEDED"
    BANK_DISCREPANCY_ALREADY_RESOLVED = "BANK_DISCREPANCY_ALREADY_RESOLVED"
    BANK_PAYMENT_RECONCILED = "BANK_PAYMENT_RECONCILED"


class BankLinkInvalid(DomainError):
    code = BankLinkErrorCode.BANK_LINK_INVALID
    message_template = gettext_lazy("The bank link setting %(field)s is not valid: %(problem)s.")

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem[:200])


class BankLinkTaken(DomainError):
    code = BankLinkErrorCode.BANK_LINK_TAKEN
    message_template = gettext_lazy(
        "Another bank link already uses this partner, agency id or port (%(field)s)."
    )

    def __init__(self, *, field: str) -> None:
        super().__init__(field=field)


class BankLinkNotBank(DomainError):
    code = BankLinkErrorCode.BANK_LINK_NOT_BANK
    message_template = gettext_lazy("Partner %(partner)s is not a bank.")

    def __init__(self, *, partner: str) -> None:
        super().__init__(partner=partner)


class BankAgencyUnknown(DomainError):
    code = BankLinkErrorCode.BANK_AGENCY_UNKNOWN
    message_template = gettext_lazy("Agency id %(agency_id)s is not this bank's.")

    def __init__(self, *, agency_id: str) -> None:
        super().__init__(agency_id=agency_id[:20])


class BillpayDuplicateRecord(DomainError):
    code = BankLinkErrorCode.BILLPAY_DUPLICATE_RECORD
    message_template = gettext_lazy("Request id %(request_id)s has already been used.")

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class BillpayRecordNotFound(DomainError):
    code = BankLinkErrorCode.BILLPAY_RECORD_NOT_FOUND
    message_template = gettext_lazy("There is no request %(request_id)s to advise.")

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class BillpayAlreadySettled(DomainError):
    code = BankLinkErrorCode.BILLPAY_ALREADY_SETTLED
    message_template = gettext_lazy(
        "Request %(request_id)s is already confirmed and cannot be reversed."
    )

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class BillpayAlreadyReversed(DomainError):
    code = BankLinkErrorCode.BILLPAY_ALREADY_REVERSED
    message_template = gettext_lazy(
        "Request %(request_id)s is already reversed and cannot be confirmed."
    )

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class BillpayAdviceConflict(DomainError):
    code = BankLinkErrorCode.BILLPAY_ADVICE_CONFLICT
    message_template = gettext_lazy("Advice id %(advice_id)s was already used for another advice.")

    def __init__(self, *, advice_id: str) -> None:
        super().__init__(advice_id=advice_id)


class BillpayNotRefundable(DomainError):
    code = BankLinkErrorCode.BILLPAY_REFUND_NOT_REFUNDABLE
    message_template = gettext_lazy(
        "Payment %(issuer_reference)s is not a confirmed payment of this partner to refund."
    )

    def __init__(self, *, issuer_reference: str) -> None:
        super().__init__(issuer_reference=issuer_reference[:40])


class ReconciliationInProgress(DomainError):
    code = BankLinkErrorCode.BANK_RECONCILIATION_IN_PROGRESS
    message_template = gettext_lazy(
        "The reconciliation of %(bank_date)s is in progress: its discrepancies are being resolved."
    )

    def __init__(self, *, bank_date: str) -> None:
        super().__init__(bank_date=bank_date)


class ReconciliationSuperseded(DomainError):
    code = BankLinkErrorCode.BANK_RECONCILIATION_SUPERSEDED
    message_template = gettext_lazy(
        "This reconciliation of %(bank_date)s was replaced by a later file from the bank: work "
        "on the newer one."
    )

    def __init__(self, *, bank_date: str) -> None:
        super().__init__(bank_date=bank_date)


class ReconciliationDone(DomainError):
    code = BankLinkErrorCode.BANK_RECONCILIATION_DONE
    message_template = gettext_lazy("%(bank_date)s is already reconciled.")

    def __init__(self, *, bank_date: str) -> None:
        super().__init__(bank_date=bank_date)


class ReconciliationUnresolved(DomainError):
    code = BankLinkErrorCode.BANK_RECONCILIATION_UNRESOLVED
    message_template = gettext_lazy(
        "%(count)s discrepancies are not resolved yet; the day cannot be closed."
    )

    def __init__(self, *, count: int) -> None:
        super().__init__(count=count)


class ReconciliationDateInFuture(DomainError):
    code = BankLinkErrorCode.BANK_RECONCILIATION_DATE_IN_FUTURE
    message_template = gettext_lazy(
        "The bank date %(bank_date)s is after today: a day is reconciled once it is over."
    )

    def __init__(self, *, bank_date: str) -> None:
        super().__init__(bank_date=bank_date)


class ReconciliationFileInvalid(DomainError):
    code = BankLinkErrorCode.BANK_RECONCILIATION_FILE_INVALID
    message_template = gettext_lazy("The reconciliation file is not valid: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class DiscrepancyAlreadyResolved(DomainError):
    code = BankLinkErrorCode.BANK_DISCREPANCY_ALREADY_RESOLVED
    message_template = gettext_lazy("This discrepancy is already resolved.")

    def __init__(self) -> None:
        super().__init__()


class BankPaymentReconciled(DomainError):
    code = BankLinkErrorCode.BANK_PAYMENT_RECONCILED
    message_template = gettext_lazy(
        "Bank serial %(bank_serial)s is in a reconciled day and cannot be cancelled."
    )

    def __init__(self, *, bank_serial: str) -> None:
        super().__init__(bank_serial=bank_serial[:40])
