"""App configuration for the bank link."""

from django.apps import AppConfig


class BanklinkConfig(AppConfig):
    name = "gridvend.banklink"
    label = "banklink"
    verbose_name = "Bank link"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.banklink import events  # noqa: F401
        from gridvend.banklink.services.payments import refuse_cancel_while_reconciling
        from gridvend.billing.guards import register_cancel_guard

        # Every cancel of a bank's payment (the link's, a Billpay refund, the back office's)
        # waits while the bank's day is being reconciled.
        register_cancel_guard("bank day", refuse_cancel_while_reconciling)
