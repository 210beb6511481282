"""App configuration for meter readings: reading books (routes), readings and their exceptions."""

from django.apps import AppConfig


class ReadingsConfig(AppConfig):
    name = "gridvend.readings"
    label = "readings"
    verbose_name = "Meter readings"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.readings import events  # noqa: F401
