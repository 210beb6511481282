"""Access errors with stable codes; the web and API layers map them to 403/404 in one place."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from gridvend.kernel.errors import DomainError


class AccessDenied(DomainError):
    """The actor may not do this (missing role or capability)."""

    def __init__(self, message: str = "", **params: Any) -> None:
        super().__init__(
            "PERMISSION_DENIED", message or _("You are not allowed to do this."), **params
        )


class NotFound(DomainError):
    """The object does not exist or lies outside the actor's subtree (the two look the same)."""

    def __init__(self, message: str = "", **params: Any) -> None:
        super().__init__("NOT_FOUND", message or _("Not found."), **params)


class DelegationRefused(DomainError):
    """A grant that breaks the delegation rules (role, subtree or capability)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__("DELEGATION_REFUSED", message, **params)


class ValidationFailed(DomainError):
    def __init__(self, message: str, **params: Any) -> None:
        super().__init__("VALIDATION_FAILED", message, **params)


class AccountLocked(DomainError):
    """Too many failed sign-ins (passwords or codes); the account waits out the lockout."""

    def __init__(self) -> None:
        super().__init__(
            "ACCOUNT_LOCKED", _("This account is locked after repeated failed sign-ins.")
        )
