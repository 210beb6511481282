"""App configuration for customers, premises and arrears."""

from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "gridvend.customers"
    label = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.customers import events  # noqa: F401
