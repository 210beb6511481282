"""Refusals of the phone channels with stable codes. The USSD gateway words each as an ``END``
screen and the SMS gateway as a reply message, both in the customer's language."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class PhoneErrorCode(StrEnum):
    PHONE_CALLBACK_NOT_AUTHORISED = "PHONE_CALLBACK_NOT_AUTHORISED"
    PHONE_CALLBACK_INVALID = "PHONE_CALLBACK_INVALID"
    PHONE_CHANNEL_UNAVAILABLE = "PHONE_CHANNEL_UNAVAILABLE"
    PHONE_NOT_ALLOWED = "PHONE_NOT_ALLOWED"
    PHONE_SALE_NOT_FOUND = "PHONE_SALE_NOT_FOUND"
    PHONE_TOO_MANY_REQUESTS = "PHONE_TOO_MANY_REQUESTS"
    PHONE_BALANCE_UNKNOWN = "PHONE_BALANCE_UNKNOWN"


class PhoneCallbackNotAuthorised(DomainError):
    code = PhoneErrorCode.PHONE_CALLBACK_NOT_AUTHORISED
    message_template = gettext_lazy(
        "This callback does not come from an allowed address or with the right secret."
    )

    def __init__(self) -> None:
        super().__init__()


class PhoneCallbackInvalid(DomainError):
    code = PhoneErrorCode.PHONE_CALLBACK_INVALID
    message_template = gettext_lazy("The phone callback cannot be read: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class PhoneChannelUnavailable(DomainError):
    code = PhoneErrorCode.PHONE_CHANNEL_UNAVAILABLE
    message_template = gettext_lazy("This service is not available now. Please try later.")

    def __init__(self) -> None:
        super().__init__()


class PhoneNotAllowed(DomainError):
    """A token or a balance asked from a phone that is neither registered on the account nor
    the one that paid."""

    code = PhoneErrorCode.PHONE_NOT_ALLOWED
    message_template = gettext_lazy(
        "Only the phone registered on the account or the phone that paid may see this."
    )

    def __init__(self) -> None:
        super().__init__()


class PhoneSaleNotFound(DomainError):
    code = PhoneErrorCode.PHONE_SALE_NOT_FOUND
    message_template = gettext_lazy("No purchase has this reference.")

    def __init__(self) -> None:
        super().__init__()


class PhoneTooManyRequests(DomainError):
    code = PhoneErrorCode.PHONE_TOO_MANY_REQUESTS
    message_template = gettext_lazy("Too many requests from this phone. Please try later.")

    def __init__(self) -> None:
        super().__init__()


class PhoneBalanceUnknown(DomainError):
    """``BAL`` with a number that is no meter, nor a postpaid account registered to this phone
    (the two are answered alike: the reply does not tell whose account a number is)."""

    code = PhoneErrorCode.PHONE_BALANCE_UNKNOWN
    message_template = gettext_lazy(
        "No meter, and no postpaid account registered to this phone, has the number %(number)s."
    )

    def __init__(self, *, number: str) -> None:
        super().__init__(number=number[:20])
