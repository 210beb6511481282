"""App configuration for sales, tokens and the vending services."""

from django.apps import AppConfig


class VendingConfig(AppConfig):
    name = "gridvend.vending"
    label = "vending"
    verbose_name = "Vending"

    def ready(self) -> None:
        # Registers the vending audit event types, so the operation log lists them all.
        from gridvend.vending import events  # noqa: F401
