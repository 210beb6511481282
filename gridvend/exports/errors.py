"""Refusals and failures of exports with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class ExportErrorCode(StrEnum):
    EXPORT_LIMIT_REACHED = "EXPORT_LIMIT_REACHED"
    EXPORT_SOURCE_UNKNOWN = "EXPORT_SOURCE_UNKNOWN"
    EXPORT_FORMAT_INVALID = "EXPORT_FORMAT_INVALID"
    EXPORT_ACCESS_LOST = "EXPORT_ACCESS_LOST"
    EXPORT_FAILED = "EXPORT_FAILED"


class ExportLimitReached(DomainError):
    code = ExportErrorCode.EXPORT_LIMIT_REACHED
    message_template = gettext_lazy(
        "You already have %(limit)s exports waiting or running. Wait until one is ready, or "
        "delete one, then export again."
    )

    def __init__(self, *, limit: int) -> None:
        super().__init__(limit=limit)


class ExportSourceUnknown(DomainError):
    code = ExportErrorCode.EXPORT_SOURCE_UNKNOWN
    message_template = gettext_lazy("There is no export called %(source)s.")

    def __init__(self, *, source: str) -> None:
        super().__init__(source=source)


class ExportFormatInvalid(DomainError):
    code = ExportErrorCode.EXPORT_FORMAT_INVALID
    message_template = gettext_lazy("Exports are written as CSV or XLSX, not %(format)s.")

    def __init__(self, *, format: str) -> None:
        super().__init__(format=format)


class ExportAccessLost(DomainError):
    """Found when the job runs: the owner was deactivated, lost the right to the list, or moved
    away from a unit the filters name."""

    code = ExportErrorCode.EXPORT_ACCESS_LOST
    message_template = gettext_lazy(
        "The export was not written: its owner may no longer read these rows."
    )

    def __init__(self) -> None:
        super().__init__()


class ExportFailed(DomainError):
    code = ExportErrorCode.EXPORT_FAILED
    message_template = gettext_lazy(
        "The export could not be written. Try again; if it fails again, tell the administrator."
    )

    def __init__(self) -> None:
        super().__init__()
