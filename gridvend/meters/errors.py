"""The refusals of the meter services (register, install, status, replace), each with a stable
code (moved here unchanged)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from gridvend.kernel.errors import DomainError
from gridvend.meters.models import MeterStatus


class MeterNumberInvalid(DomainError):
    def __init__(self, *, meter_number: str, problem: str) -> None:
        messages = {
            "check_digit": _(
                "Meter number %(number)s has a wrong check digit. Check it was typed correctly."
            ),
            "format": _("Meter number %(number)s is not valid: it must have 11 or 13 digits."),
        }
        super().__init__(
            "METER_NUMBER_INVALID",
            messages[problem] % {"number": meter_number},
            meter_number=meter_number,
            problem=problem,
        )


class MeterNumberTaken(DomainError):
    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            "METER_NUMBER_TAKEN",
            _("Meter %(number)s is already registered.") % {"number": meter_number},
            meter_number=meter_number,
        )


class MeterKeyParamsInvalid(DomainError):
    def __init__(self, *, problems: str) -> None:
        super().__init__(
            "METER_KEY_PARAMS_INVALID",
            _("The meter's key parameters are not valid: %(problems)s.") % {"problems": problems},
            problems=problems,
        )


class VendingKeyNotFound(DomainError):
    def __init__(self, *, key_ref: str) -> None:
        super().__init__(
            "VENDING_KEY_NOT_FOUND",
            _("There is no active vending key called %(key_ref)s.") % {"key_ref": key_ref},
            key_ref=key_ref,
        )


class VendingKeyMismatch(DomainError):
    def __init__(self, *, key_ref: str, key_dkga: str, meter_dkga: str) -> None:
        super().__init__(
            "VENDING_KEY_MISMATCH",
            _("Vending key %(key_ref)s is for DKGA%(key_dkga)s, but the meter uses DKGA%(dkga)s.")
            % {"key_ref": key_ref, "key_dkga": key_dkga, "dkga": meter_dkga},
            key_ref=key_ref,
            key_dkga=key_dkga,
            meter_dkga=meter_dkga,
        )


class MeterStatusConflict(DomainError):
    def __init__(self, *, meter_number: str, status: str) -> None:
        super().__init__(
            "METER_STATUS_CONFLICT",
            _("Meter %(number)s is %(status)s, so this cannot be done.")
            % {"number": meter_number, "status": MeterStatus(status).label},
            meter_number=meter_number,
            status=status,
        )


class MeterNotInstalled(DomainError):
    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            "METER_NOT_INSTALLED",
            _("Meter %(number)s is not installed anywhere.") % {"number": meter_number},
            meter_number=meter_number,
        )


class MeterAlreadyInstalled(DomainError):
    def __init__(self, *, meter_number: str) -> None:
        super().__init__(
            "METER_ALREADY_INSTALLED",
            _("Meter %(number)s is already installed there.") % {"number": meter_number},
            meter_number=meter_number,
        )
