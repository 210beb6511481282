"""App configuration for partners, their requests and advices."""

from django.apps import AppConfig

SETTLEMENT_SCHEDULE = "gridvend.partners.settlement"
SETTLEMENT_JOB = "gridvend.partners.services.reconciliation.run_daily_reconciliations"
# In the utility's time zone: after the partners' files usually come in the early morning.
SETTLEMENT_CRON = "30 9 * * *"


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
        queue.declare_schedule(
            "gridvend.partners.low_floats", tasks.LOW_FLOAT_JOB, cron=tasks.LOW_FLOAT_CRON
        )
        # Yesterday's settlement files: reconciled on upload; the run flags those not come.
        queue.declare_schedule(SETTLEMENT_SCHEDULE, SETTLEMENT_JOB, cron=SETTLEMENT_CRON)
