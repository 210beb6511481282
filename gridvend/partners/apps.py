"""App configuration for partners, their requests and advices."""

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "gridvend.partners"
    label = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        # Registers the partner audit event types, so the operation log lists them all.
        from gridvend.partners import events  # noqa: F401
