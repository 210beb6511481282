"""App configuration for the handheld terminals."""

from django.apps import AppConfig


class TerminalsConfig(AppConfig):
    name = "gridvend.terminals"
    label = "terminals"
    verbose_name = "Handheld terminals"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.terminals import events  # noqa: F401
