"""App configuration for versioned tariffs with maker-checker publication."""

from django.apps import AppConfig


class TariffsConfig(AppConfig):
    name = "gridvend.tariffs"
    label = "tariffs"
    verbose_name = "Tariffs"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.tariffs import events  # noqa: F401
