"""App configuration for operations: backups on a schedule when a backup key is set, and the
deployment checks (`gridvend check --deploy`)."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings

BACKUP_SCHEDULE = "gridvend.operations.backup"
BACKUP_JOB = "gridvend.operations.tasks.scheduled_backup"


class OperationsConfig(AppConfig):
    name = "gridvend.operations"
    label = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from gridvend.jobs import queue
        from gridvend.operations import checks  # noqa: F401  (registers `check --deploy`)

        # Without a backup key there is nothing to encrypt under: no schedule is declared, and
        # `gridvend backup` says what is missing.
        if settings.BACKUP_KEY:
            queue.declare_schedule(BACKUP_SCHEDULE, BACKUP_JOB, cron=settings.BACKUP_CRON)
