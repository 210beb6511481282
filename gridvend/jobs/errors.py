"""Refusals of the jobs app (operators acting on outbox messages) with stable codes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class JobsErrorCode(StrEnum):
    OUTBOX_MESSAGE_NOT_FOUND = "OUTBOX_MESSAGE_NOT_FOUND"
    OUTBOX_MESSAGE_NOT_FAILED = "OUTBOX_MESSAGE_NOT_FAILED"


class OutboxMessageNotFound(DomainError):
    code = JobsErrorCode.OUTBOX_MESSAGE_NOT_FOUND
    message_template = gettext_lazy("No outbox message %(message)s was found.")

    def __init__(self, *, message: str) -> None:
        super().__init__(message=message)


class OutboxMessageNotFailed(DomainError):
    code = JobsErrorCode.OUTBOX_MESSAGE_NOT_FAILED
    message_template = gettext_lazy(
        "Outbox message %(message)s has not failed (it is %(status)s); only a failed message "
        "is sent again."
    )

    def __init__(self, *, message: str, status: str) -> None:
        super().__init__(message=message, status=status)

    def display_params(self) -> dict[str, Any]:
        from gridvend.jobs.models import OutboxStatus

        status = self.params["status"]
        label = OutboxStatus(status).label if status in OutboxStatus.values else status
        return {**self.params, "status": label}
