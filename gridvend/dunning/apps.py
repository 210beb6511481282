"""App configuration for dunning: rules, dunning tasks per route, notices, SMS and voice
reminders, disconnection and reconnection orders."""

from django.apps import AppConfig


class DunningConfig(AppConfig):
    name = "gridvend.dunning"
    label = "dunning"
    verbose_name = "Dunning"

    def ready(self) -> None:
        # Registers the audit event types, and the daily run with the job scheduler.
        from django.conf import settings

        from gridvend.dunning import events  # noqa: F401
        from gridvend.dunning.tasks import (
            RECONNECT_CRON,
            RECONNECT_JOB,
            RECONNECT_SCHEDULE,
            RUN_JOB,
            RUN_SCHEDULE,
        )
        from gridvend.jobs import queue

        queue.declare_schedule(RUN_SCHEDULE, RUN_JOB, cron=settings.DUNNING_RUN_CRON)
        queue.declare_schedule(RECONNECT_SCHEDULE, RECONNECT_JOB, cron=RECONNECT_CRON)
