"""App configuration for the organisation tree and vending points."""

from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "gridvend.org"
    label = "org"
    verbose_name = "Organisation"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.org import events  # noqa: F401
