"""App configuration for the encrypted vending-key store and the software STS token engine."""

from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "gridvend.keys"
    label = "keys"
    verbose_name = "Vending keys"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.keys import events  # noqa: F401
