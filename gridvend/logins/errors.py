"""Refusals of the customer logins with stable codes; the portal words each in the customer's
language beside the field it concerns."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class LoginsErrorCode(StrEnum):
    PORTAL_PROOF_REFUSED = "PORTAL_PROOF_REFUSED"
    PORTAL_PROOF_LIMITED = "PORTAL_PROOF_LIMITED"
    PORTAL_NO_CONTACT = "PORTAL_NO_CONTACT"
    PORTAL_CODE_NOT_SENT = "PORTAL_CODE_NOT_SENT"
    PORTAL_CODE_INVALID = "PORTAL_CODE_INVALID"
    PORTAL_TOO_MANY_CODES = "PORTAL_TOO_MANY_CODES"
    PORTAL_USERNAME_TAKEN = "PORTAL_USERNAME_TAKEN"
    PORTAL_METER_ALREADY_LINKED = "PORTAL_METER_ALREADY_LINKED"
    PORTAL_TOO_MANY_FAULTS = "PORTAL_TOO_MANY_FAULTS"


class ProofRefused(DomainError):
    """The meter and the account number do not belong together (or either is unknown: the
    two look the same, so the form tells nobody which meters exist)."""

    code = LoginsErrorCode.PORTAL_PROOF_REFUSED
    message_template = gettext_lazy(
        "The meter number and the account number do not match. Check both on a receipt or a bill."
    )

    def __init__(self) -> None:
        super().__init__()


class ProofLimited(DomainError):
    """Too many refused proofs for this meter number this hour: every proof for it waits,
    the right one too (otherwise account numbers could be tried until one is taken)."""

    code = LoginsErrorCode.PORTAL_PROOF_LIMITED
    message_template = gettext_lazy(
        "Too many tries for this meter. Try again in an hour, or ask the utility for help."
    )

    def __init__(self) -> None:
        super().__init__()


class NoContact(DomainError):
    code = LoginsErrorCode.PORTAL_NO_CONTACT
    message_template = gettext_lazy(
        "No contact for this way of sending is on file for the account. Choose the other way, "
        "or ask the utility to add your phone number or e-mail address."
    )

    def __init__(self, *, channel: str) -> None:
        super().__init__(channel=channel)


class CodeNotSent(DomainError):
    code = LoginsErrorCode.PORTAL_CODE_NOT_SENT
    message_template = gettext_lazy(
        "Codes cannot be sent this way now. Choose the other way, or try later."
    )

    def __init__(self, *, channel: str) -> None:
        super().__init__(channel=channel)


class CodeInvalid(DomainError):
    code = LoginsErrorCode.PORTAL_CODE_INVALID
    message_template = gettext_lazy(
        "That code is not right, or it has expired or been used. Ask for a new code."
    )

    def __init__(self) -> None:
        super().__init__()


class TooManyCodes(DomainError):
    code = LoginsErrorCode.PORTAL_TOO_MANY_CODES
    message_template = gettext_lazy("Too many codes were asked for. Try again in an hour.")

    def __init__(self) -> None:
        super().__init__()


class UsernameTaken(DomainError):
    code = LoginsErrorCode.PORTAL_USERNAME_TAKEN
    message_template = gettext_lazy("That user name is taken. Choose another.")

    def __init__(self) -> None:
        super().__init__()


class MeterAlreadyLinked(DomainError):
    code = LoginsErrorCode.PORTAL_METER_ALREADY_LINKED
    message_template = gettext_lazy("This meter is already on your login.")

    def __init__(self) -> None:
        super().__init__()


class TooManyFaults(DomainError):
    """The login has sent its hour's share of fault reports (GRIDVEND_PORTAL_FAULTS_PER_HOUR)."""

    code = LoginsErrorCode.PORTAL_TOO_MANY_FAULTS
    message_template = gettext_lazy(
        "You have sent several fault reports in the last hour. We are working on them; "
        "for danger to life call the utility's emergency number."
    )

    def __init__(self) -> None:
        super().__init__()
