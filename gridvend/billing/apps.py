"""App configuration for postpaid billing: runs, bills, payments and arrears."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "gridvend.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from gridvend.billing import events  # noqa: F401  (registers the audit event types)
