"""App configuration for mobile-money payments."""

from django.apps import AppConfig


class MobileMoneyConfig(AppConfig):
    name = "gridvend.mobilemoney"
    label = "mobilemoney"
    verbose_name = "Mobile money"

    def ready(self) -> None:
        # Registers the audit event types, and the periodic jobs (back-fill, late STK pushes,
        # the daily reconciliation) so that the worker writes their schedules when it starts.
        from gridvend.jobs import queue
        from gridvend.mobilemoney import events  # noqa: F401
        from gridvend.mobilemoney.tasks import (
            BACKFILL_CRON,
            BACKFILL_JOB,
            BACKFILL_SCHEDULE,
            RECONCILE_CRON,
            RECONCILE_JOB,
            RECONCILE_SCHEDULE,
            STK_CRON,
            STK_JOB,
            STK_SCHEDULE,
        )

        queue.declare_schedule(BACKFILL_SCHEDULE, BACKFILL_JOB, cron=BACKFILL_CRON)
        queue.declare_schedule(STK_SCHEDULE, STK_JOB, cron=STK_CRON)
        queue.declare_schedule(RECONCILE_SCHEDULE, RECONCILE_JOB, cron=RECONCILE_CRON)
