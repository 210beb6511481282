"""App configuration for the handheld terminals."""

from django.apps import AppConfig


class TerminalsConfig(AppConfig):
    name = "gridvend.terminals"
    label = "terminals"
    verbose_name = "Handheld terminals"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start;
        # the daily cash reconciliation's schedule; the hand-in's journal entries' owner.
        from gridvend.jobs import queue
        from gridvend.ledger.owners import register_owner
        from gridvend.terminals import events  # noqa: F401
        from gridvend.terminals.tasks import RECONCILE_CRON, RECONCILE_JOB, RECONCILE_SCHEDULE

        queue.declare_schedule(RECONCILE_SCHEDULE, RECONCILE_JOB, cron=RECONCILE_CRON)
        register_owner("terminals.CashHandIn", "journal_entry", "cash hand-in")
