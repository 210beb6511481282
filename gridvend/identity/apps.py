"""App configuration for users, the role ladder, capabilities and scoping."""

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "gridvend.identity"
    label = "identity"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        # Registers the app's audit event types, so the operation log lists them from the start.
        from gridvend.identity import events  # noqa: F401
