"""The partner API as an installed app, so its error codes join the catalogue (docs/errors.md)."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "gridvend.api"
    label = "api"
    verbose_name = "Partner API"
