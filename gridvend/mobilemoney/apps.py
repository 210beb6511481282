"""App configuration for mobile-money payments."""

from django.apps import AppConfig


class MobileMoneyConfig(AppConfig):
    name = "gridvend.mobilemoney"
    label = "mobilemoney"
    verbose_name = "Mobile money"

    def ready(self) -> None:
        # Registers the audit event types, the periodic jobs (back-fill, late STK pushes, the
        # daily reconciliation) so that the worker writes their schedules when it starts, and
        # the suspense entries' owners and check for `gridvend verify` and the reconciliation.
        from gridvend.jobs import queue
        from gridvend.ledger.checks import register_check
        from gridvend.ledger.owners import register_owner
        from gridvend.mobilemoney import events  # noqa: F401
        from gridvend.mobilemoney.services.suspense import suspense_findings
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
        # The books: a payment's suspense entry and its release are its own; the suspense
        # account ties to the open suspense payments.
        register_owner("mobilemoney.MobilePayment", "suspense_entry", "mobile payment suspense")
        register_owner("mobilemoney.MobilePayment", "release_entry", "mobile payment release")
        register_check("mobile-money suspense", suspense_findings)
