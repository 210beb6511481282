"""App configuration for partners, their requests and advices."""

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "gridvend.partners"
    label = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        # Registers the partner audit event types, so the operation log lists them all.
        from gridvend.jobs import queue
        from gridvend.partners import (
            events,  # noqa: F401
            tasks,
        )

        queue.declare_schedule(
            "gridvend.partners.finalise_unconfirmed", tasks.FINALISE_JOB, cron=tasks.FINALISE_CRON
        )
