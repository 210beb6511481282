"""Access and validation errors with stable codes; each channel maps them to its own refusal."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class IdentityErrorCode(StrEnum):
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    DELEGATION_REFUSED = "DELEGATION_REFUSED"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"


class AccessDenied(DomainError):
    """The actor may not do this (missing role or capability).

    A raise site may give a sentence naming who may do it instead ("only the author of a draft").
    """

    code = IdentityErrorCode.PERMISSION_DENIED
    message_template = gettext_lazy("You are not allowed to do this.")
    extra_params = ("capability",)
    takes_detail = True

    def __init__(self, detail: object = None, /, **params: Any) -> None:
        super().__init__(None, detail or None, **params)


class NotFound(DomainError):
    """The object does not exist or lies outside the actor's subtree (the two look the same)."""

    code = IdentityErrorCode.NOT_FOUND
    message_template = gettext_lazy("Not found, or outside your part of the organisation.")

    def __init__(self) -> None:
        super().__init__()


class DelegationRefused(DomainError):
    """A grant that breaks the delegation rules (role, subtree or capability)."""

    code = IdentityErrorCode.DELEGATION_REFUSED
    message_template = gettext_lazy("You cannot grant this.")
    variant_param = "rule"
    message_variants = {
        "role_rank": gettext_lazy("You can only grant roles below your own."),
        "subtree": gettext_lazy("You can only place users inside your own part of the tree."),
        "capability": gettext_lazy("You can only grant capabilities you hold yourself."),
    }

    extra_params = ("role", "capability")

    def __init__(self, *, rule: str, **params: Any) -> None:
        super().__init__(rule=rule, **params)


class ValidationFailed(DomainError):
    """A value a person entered breaks a rule of its own; the raise site words the sentence.

    The sentences are as many as the fields, so they are written (translated) where the field is
    checked; ``field`` names the field so a form can put the sentence beside it.
    """

    code = IdentityErrorCode.VALIDATION_FAILED
    message_template = gettext_lazy("This value is not valid.")
    extra_params = ("field",)
    takes_detail = True

    def __init__(self, detail: object = None, /, **params: Any) -> None:
        super().__init__(None, detail or None, **params)


class AccountLocked(DomainError):
    """Too many failed sign-ins (passwords or codes); the account waits out the lockout."""

    code = IdentityErrorCode.ACCOUNT_LOCKED
    message_template = gettext_lazy("This account is locked after repeated failed sign-ins.")

    def __init__(self) -> None:
        super().__init__()
