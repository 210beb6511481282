"""App configuration for the offline vending stations."""

from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "gridvend.stations"
    label = "stations"
    verbose_name = "Offline vending stations"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.stations import events  # noqa: F401
