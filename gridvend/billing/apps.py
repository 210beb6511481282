"""App configuration for postpaid billing: runs, bills, payments and arrears."""

from django.apps import AppConfig

LATE_FEES_JOB = "gridvend.billing.services.late_fees_job"
# In the utility's time zone: once a day, early, before the offices open.
LATE_FEES_CRON = "15 2 * * *"
RECOVERIES_JOB = "gridvend.billing.services.recoveries_job"
# What prepaid sales recovered of postpaid arrears pays the bills within the quarter hour.
RECOVERIES_CRON = "*/15 * * * *"


class BillingConfig(AppConfig):
    name = "gridvend.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from gridvend.billing import events  # noqa: F401  (registers the audit event types)
        from gridvend.billing.guards import refuse_prepaid_while_owing
        from gridvend.billing.integrity import arrears_findings
        from gridvend.billing.services.arrears import take_back_recoveries
        from gridvend.customers.guards import register_kind_guard
        from gridvend.jobs import queue
        from gridvend.ledger.checks import register_check
        from gridvend.ledger.owners import register_owner
        from gridvend.vending.reversal_hooks import register_reversal_hook

        # Every journal entry billing writes is named by one of these (`gridvend verify`).
        for field in (
            "journal_entry",
            "cancel_entry",
            "late_fee_entry",
            "late_fee_cancel_entry",
            "debt_release_entry",
        ):
            register_owner("billing.Bill", field, "bill")
        for field in (
            "journal_entry",
            "cancel_entry",
            "debt_release_entry",
            "debt_release_cancel_entry",
        ):
            register_owner("billing.BillPayment", field, "bill payment")

        register_check("postpaid arrears", arrears_findings)
        register_kind_guard("billing.open_bills", refuse_prepaid_while_owing)
        register_reversal_hook("billing.recoveries", take_back_recoveries)
        queue.declare_schedule("gridvend.billing.late_fees", LATE_FEES_JOB, cron=LATE_FEES_CRON)
        queue.declare_schedule("gridvend.billing.recoveries", RECOVERIES_JOB, cron=RECOVERIES_CRON)
