"""Refusals of the dunning app (rules, runs, voice reminders, disconnection orders) and of the
phone-enquiry channel, with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class DunningErrorCode(StrEnum):
    DUNNING_RULE_INVALID = "DUNNING_RULE_INVALID"
    DUNNING_TASK_NOT_DISCONNECTION = "DUNNING_TASK_NOT_DISCONNECTION"
    DUNNING_TASK_CLOSED = "DUNNING_TASK_CLOSED"
    DISCONNECTION_NOT_IN_ARREARS = "DISCONNECTION_NOT_IN_ARREARS"
    ORDER_NOT_ISSUED = "ORDER_NOT_ISSUED"
    VOICE_ENGINE_MISSING = "VOICE_ENGINE_MISSING"
    VOICE_ENGINE_FAILED = "VOICE_ENGINE_FAILED"
    VOICE_LANGUAGE_UNSUPPORTED = "VOICE_LANGUAGE_UNSUPPORTED"
    CALL_LIST_DATE_INVALID = "CALL_LIST_DATE_INVALID"
    ENQUIRY_NOT_AUTHORISED = "ENQUIRY_NOT_AUTHORISED"
    ENQUIRY_INPUT_INVALID = "ENQUIRY_INPUT_INVALID"
    ENQUIRY_ACCOUNT_UNKNOWN = "ENQUIRY_ACCOUNT_UNKNOWN"
    VISIT_REFERENCE_REUSED = "VISIT_REFERENCE_REUSED"
    DISCONNECTION_PAID_TODAY = "DISCONNECTION_PAID_TODAY"


class DunningRuleInvalid(DomainError):
    """A rule's field out of bounds: ``field`` names it."""

    code = DunningErrorCode.DUNNING_RULE_INVALID
    message_template = gettext_lazy("The dunning rule's %(field)s is not valid.")

    def __init__(self, *, field: str) -> None:
        super().__init__(field=field)


class TaskNotDisconnection(DomainError):
    code = DunningErrorCode.DUNNING_TASK_NOT_DISCONNECTION
    message_template = gettext_lazy(
        "Only a task at the disconnection stage gives a disconnection order."
    )


class TaskClosed(DomainError):
    code = DunningErrorCode.DUNNING_TASK_CLOSED
    message_template = gettext_lazy("This dunning task is closed.")


class NotInArrears(DomainError):
    """The pre-disconnection check found nothing overdue: the refusal is recorded on the order
    (status refused), then raised."""

    code = DunningErrorCode.DISCONNECTION_NOT_IN_ARREARS
    message_template = gettext_lazy(
        "Account %(account_number)s is no longer in arrears: it is not to be disconnected."
    )

    def __init__(self, *, account_number: str, order_id: int) -> None:
        super().__init__(account_number=account_number, order_id=order_id)


class OrderNotIssued(DomainError):
    code = DunningErrorCode.ORDER_NOT_ISSUED
    message_template = gettext_lazy("Only an issued order can be executed.")


class VoiceEngineMissing(DomainError):
    code = DunningErrorCode.VOICE_ENGINE_MISSING
    message_template = gettext_lazy(
        "Voice reminders need espeak-ng, which is not installed on this server."
    )


class VoiceEngineFailed(DomainError):
    code = DunningErrorCode.VOICE_ENGINE_FAILED
    message_template = gettext_lazy("The speech engine could not make the reminder: %(reason)s.")

    def __init__(self, *, reason: str) -> None:
        super().__init__(reason=reason)


class VoiceLanguageUnsupported(DomainError):
    code = DunningErrorCode.VOICE_LANGUAGE_UNSUPPORTED
    message_template = gettext_lazy("The speech engine has no voice for %(language)s.")

    def __init__(self, *, language: str) -> None:
        super().__init__(language=language)


class CallListDateInvalid(DomainError):
    code = DunningErrorCode.CALL_LIST_DATE_INVALID
    message_template = gettext_lazy("A call list is for a day written YYYY-MM-DD.")


class EnquiryNotAuthorised(DomainError):
    code = DunningErrorCode.ENQUIRY_NOT_AUTHORISED
    message_template = gettext_lazy("The voice or SMS aggregator is not recognised.")


class EnquiryInputInvalid(DomainError):
    code = DunningErrorCode.ENQUIRY_INPUT_INVALID
    message_template = gettext_lazy("The enquiry's %(field)s is not valid.")

    def __init__(self, *, field: str) -> None:
        super().__init__(field=field)


class EnquiryAccountUnknown(DomainError):
    code = DunningErrorCode.ENQUIRY_ACCOUNT_UNKNOWN
    message_template = gettext_lazy("There is no postpaid account with that number.")


class VisitReferenceReused(DomainError):
    """A visit's report sent again with another task or outcome under the same reference."""

    code = DunningErrorCode.VISIT_REFERENCE_REUSED
    message_template = gettext_lazy(
        "The reference %(reference)s was used for another visit report: use a new one."
    )

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference[:64])


class DisconnectionPaidToday(DomainError):
    """The visit's pre-disconnection check (the precheck's own): the customer paid today, and
    the payment may not have reached the bills yet. Nothing is executed or recorded."""

    code = DunningErrorCode.DISCONNECTION_PAID_TODAY
    message_template = gettext_lazy(
        "Account %(account_number)s paid today: it is not to be disconnected today."
    )

    def __init__(self, *, account_number: str) -> None:
        super().__init__(account_number=account_number)
