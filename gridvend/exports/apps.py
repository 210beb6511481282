"""App configuration for exports written by jobs."""

from __future__ import annotations

from django.apps import AppConfig

EXPIRE_SCHEDULE = "gridvend.exports.expire"
EXPIRE_JOB = "gridvend.exports.tasks.expire_exports"
# Hourly: a file lives at most an hour past its retention.
EXPIRE_CRON = "17 * * * *"


class ExportsConfig(AppConfig):
    name = "gridvend.exports"
    label = "exports"
    verbose_name = "Exports"

    def ready(self) -> None:
        # Registers the export audit event types, so the operation log lists them all.
        from gridvend.exports import events  # noqa: F401
        from gridvend.jobs import queue

        queue.declare_schedule(EXPIRE_SCHEDULE, EXPIRE_JOB, cron=EXPIRE_CRON)
