"""App configuration for the bank link."""

from django.apps import AppConfig


class BanklinkConfig(AppConfig):
    name = "gridvend.banklink"
    label = "banklink"
    verbose_name = "Bank link"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.banklink import events  # noqa: F401
