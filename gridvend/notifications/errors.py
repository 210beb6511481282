"""Refusals of the notifications app (a message that cannot be queued) with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class NotificationErrorCode(StrEnum):
    NOTIFICATION_LANGUAGE_UNSUPPORTED = "NOTIFICATION_LANGUAGE_UNSUPPORTED"
    NOTIFICATION_TOO_LONG = "NOTIFICATION_TOO_LONG"
    EMAIL_ADDRESS_INVALID = "EMAIL_ADDRESS_INVALID"


class NotificationLanguageUnsupported(DomainError):
    code = NotificationErrorCode.NOTIFICATION_LANGUAGE_UNSUPPORTED
    message_template = gettext_lazy(
        "Messages cannot be sent in %(language)s. Choose English, Arabic or Simplified Chinese."
    )

    def __init__(self, *, language: str) -> None:
        super().__init__(language=language)


class NotificationTooLong(DomainError):
    code = NotificationErrorCode.NOTIFICATION_TOO_LONG
    message_template = gettext_lazy(
        "The message would be %(length)s characters long; at most %(maximum)s can be sent."
    )

    def __init__(self, *, length: int, maximum: int) -> None:
        super().__init__(length=length, maximum=maximum)


class EmailAddressInvalid(DomainError):
    code = NotificationErrorCode.EMAIL_ADDRESS_INVALID
    message_template = gettext_lazy("%(address)s is not an e-mail address.")

    def __init__(self, *, address: str) -> None:
        super().__init__(address=address)
