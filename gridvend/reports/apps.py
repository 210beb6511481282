"""App configuration for reports: the figures' builders, the sales roll-up and the abnormal
customers' findings snapshot they read."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings

ROLLUP_SCHEDULE = "gridvend.reports.rollup"
ROLLUP_JOB = "gridvend.reports.rollup.fold_job"
ABNORMAL_SNAPSHOT_SCHEDULE = "gridvend.reports.abnormal_snapshot"
ABNORMAL_SNAPSHOT_JOB = "gridvend.reports.abnormal_snapshot.snapshot_job"


class ReportsConfig(AppConfig):
    name = "gridvend.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from gridvend.jobs import queue
        from gridvend.reports import (  # noqa: F401  (register the reports and events)
            abnormal,
            cashup,
            catalogue,
            details,
            events,
            floats,
            journal,
            maintenance,
        )
        from gridvend.reports.exporting import register_sources
        from gridvend.reports.subscriptions import SEND_JOB, SEND_SCHEDULE

        register_sources()

        queue.declare_schedule(ROLLUP_SCHEDULE, ROLLUP_JOB, cron=settings.REPORT_ROLLUP_CRON)
        queue.declare_schedule(
            ABNORMAL_SNAPSHOT_SCHEDULE,
            ABNORMAL_SNAPSHOT_JOB,
            cron=settings.REPORT_ABNORMAL_SNAPSHOT_CRON,
        )
        queue.declare_schedule(SEND_SCHEDULE, SEND_JOB, cron=settings.REPORT_SUBSCRIPTIONS_CRON)
