"""Refusals of the meters app (registration, installation, status, faults) with stable codes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class MeterErrorCode(StrEnum):
    METER_NUMBER_INVALID = "METER_NUMBER_INVALID"
    METER_NUMBER_TAKEN = "METER_NUMBER_TAKEN"
    METER_KEY_PARAMS_INVALID = "METER_KEY_PARAMS_INVALID"
    VENDING_KEY_NOT_FOUND = "VENDING_KEY_NOT_FOUND"
    VENDING_KEY_MISMATCH = "VENDING_KEY_MISMATCH"
    METER_STATUS_CONFLICT = "METER_STATUS_CONFLICT"
    METER_NOT_INSTALLED = "METER_NOT_INSTALLED"
    METER_ALREADY_INSTALLED = "METER_ALREADY_INSTALLED"
    CATEGORY_INVALID = "CATEGORY_INVALID"
    ASSIGNEE_NOT_FIELD_AGENT = "ASSIGNEE_NOT_FIELD_AGENT"
    ASSIGNEE_OUT_OF_AREA = "ASSIGNEE_OUT_OF_AREA"
    DESCRIPTION_REQUIRED = "DESCRIPTION_REQUIRED"
    SOLUTION_REQUIRED = "SOLUTION_REQUIRED"
    REPORTED_VIA_INVALID = "REPORTED_VIA_INVALID"
    FAULT_STATE_INVALID = "FAULT_STATE_INVALID"
    FAULT_TRANSITION_INVALID = "FAULT_TRANSITION_INVALID"
    FAULT_NOTE_INVALID = "FAULT_NOTE_INVALID"
    METER_KEY_CHANGE_PENDING = "METER_KEY_CHANGE_PENDING"
    KEY_CHANGE_NOTHING_TO_CHANGE = "KEY_CHANGE_NOTHING_TO_CHANGE"


class MeterNumberInvalid(DomainError):
    code = MeterErrorCode.METER_NUMBER_INVALID
    message_template = gettext_lazy("Meter number %(meter_number)s is not valid.")
    variant_param = "problem"
    message_variants = {
        "check_digit": gettext_lazy(
            "Meter number %(meter_number)s has a wrong check digit. Check it was typed correctly."
        ),
        "format": gettext_lazy(
            "Meter number %(meter_number)s is not valid: it must have 11 or 13 digits."
        ),
    }

    def __init__(self, *, meter_number: str, problem: str) -> None:
        super().__init__(meter_number=meter_number, problem=problem)


class MeterNumberTaken(DomainError):
    code = MeterErrorCode.METER_NUMBER_TAKEN
    message_template = gettext_lazy("Meter %(meter_number)s is already registered.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class MeterKeyParamsInvalid(DomainError):
    code = MeterErrorCode.METER_KEY_PARAMS_INVALID
    message_template = gettext_lazy("The meter's key parameters are not valid: %(problems)s.")

    def __init__(self, *, problems: str) -> None:
        super().__init__(problems=problems)


class VendingKeyNotFound(DomainError):
    code = MeterErrorCode.VENDING_KEY_NOT_FOUND
    message_template = gettext_lazy("There is no active vending key called %(key_ref)s.")

    def __init__(self, *, key_ref: str) -> None:
        super().__init__(key_ref=key_ref)


class VendingKeyMismatch(DomainError):
    code = MeterErrorCode.VENDING_KEY_MISMATCH
    message_template = gettext_lazy(
        "Vending key %(key_ref)s is for DKGA%(key_dkga)s, but the meter uses DKGA%(meter_dkga)s."
    )

    def __init__(self, *, key_ref: str, key_dkga: str, meter_dkga: str) -> None:
        super().__init__(key_ref=key_ref, key_dkga=key_dkga, meter_dkga=meter_dkga)


class MeterStatusConflict(DomainError):
    code = MeterErrorCode.METER_STATUS_CONFLICT
    message_template = gettext_lazy("Meter %(meter_number)s is %(status)s, so this cannot be done.")

    def __init__(self, *, meter_number: str, status: str) -> None:
        super().__init__(meter_number=meter_number, status=status)

    def display_params(self) -> dict[str, Any]:
        from gridvend.meters.models import MeterStatus

        status = self.params["status"]
        label = MeterStatus(status).label if status in MeterStatus.values else status
        return {**self.params, "status": label}


class MeterNotInstalled(DomainError):
    code = MeterErrorCode.METER_NOT_INSTALLED
    message_template = gettext_lazy("Meter %(meter_number)s is not installed for any customer.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class MeterAlreadyInstalled(DomainError):
    code = MeterErrorCode.METER_ALREADY_INSTALLED
    message_template = gettext_lazy("Meter %(meter_number)s is already installed there.")

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class KeyChangePending(DomainError):
    code = MeterErrorCode.METER_KEY_CHANGE_PENDING
    message_template = gettext_lazy(
        "Meter %(meter_number)s already has a key change waiting to be issued. "
        "Issue or cancel it first."
    )

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class KeyChangeEmpty(DomainError):
    code = MeterErrorCode.KEY_CHANGE_NOTHING_TO_CHANGE
    message_template = gettext_lazy(
        "The new key parameters of meter %(meter_number)s are the same as the current ones."
    )

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class FaultRefused(DomainError):
    """A fault step refused; nothing was written."""


class CategoryInvalid(FaultRefused):
    code = MeterErrorCode.CATEGORY_INVALID
    message_template = gettext_lazy("Choose a fault category from the list.")

    def __init__(self, *, category: str) -> None:
        super().__init__(category=category)


class AssigneeNotFieldAgent(FaultRefused):
    code = MeterErrorCode.ASSIGNEE_NOT_FIELD_AGENT
    message_template = gettext_lazy("%(name)s is not an active field agent.")

    def __init__(self, *, assignee: str, name: str) -> None:
        super().__init__(assignee=assignee, name=name)


class AssigneeOutOfArea(FaultRefused):
    code = MeterErrorCode.ASSIGNEE_OUT_OF_AREA
    message_template = gettext_lazy("%(name)s works outside the area of meter %(meter_number)s.")

    def __init__(self, *, assignee: str, name: str, meter_number: str) -> None:
        super().__init__(assignee=assignee, name=name, meter_number=meter_number)


class DescriptionRequired(FaultRefused):
    code = MeterErrorCode.DESCRIPTION_REQUIRED
    message_template = gettext_lazy("Describe the fault the caller reports.")

    def __init__(self) -> None:
        super().__init__()


class SolutionRequired(FaultRefused):
    code = MeterErrorCode.SOLUTION_REQUIRED
    message_template = gettext_lazy("Say how the fault was solved.")

    def __init__(self) -> None:
        super().__init__()


class ReportedViaInvalid(FaultRefused):
    code = MeterErrorCode.REPORTED_VIA_INVALID
    message_template = gettext_lazy("Unknown way of reporting a fault.")

    def __init__(self, *, reported_via: str) -> None:
        super().__init__(reported_via=reported_via)


class FaultStateInvalid(FaultRefused):
    code = MeterErrorCode.FAULT_STATE_INVALID
    message_template = gettext_lazy("Assign the fault to a field agent before resolving it.")
    variant_param = "status"
    message_variants = {
        "resolved": gettext_lazy("This fault is already resolved."),
        "closed": gettext_lazy("This fault is already closed."),
        "rejected": gettext_lazy("This fault was rejected."),
        "duplicate": gettext_lazy("This fault was closed as a duplicate."),
    }

    def __init__(self, *, status: str) -> None:
        super().__init__(status=status)


class FaultTransitionInvalid(FaultRefused):
    """A change of status the fault's flow does not allow from where it is."""

    code = MeterErrorCode.FAULT_TRANSITION_INVALID
    message_template = gettext_lazy("This fault cannot move to that status from where it is now.")

    def __init__(self, *, status: str, target: str) -> None:
        super().__init__(status=status, target=target)


class FaultNoteInvalid(FaultRefused):
    code = MeterErrorCode.FAULT_NOTE_INVALID
    message_template = gettext_lazy("Write a note of at most %(maximum)s characters.")

    def __init__(self, *, maximum: int) -> None:
        super().__init__(maximum=maximum)
