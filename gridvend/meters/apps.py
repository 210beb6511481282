"""App configuration for meters and their installation history."""

from django.apps import AppConfig


class MetersConfig(AppConfig):
    name = "gridvend.meters"
    label = "meters"
    verbose_name = "Meters"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.meters import events  # noqa: F401
