"""App configuration for users, the role ladder, capabilities and scoping."""

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "gridvend.identity"
    label = "identity"
    verbose_name = "Identity and access"
