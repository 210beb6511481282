"""App configuration for versioned tariffs with maker-checker publication."""

from django.apps import AppConfig


class TariffsConfig(AppConfig):
    name = "gridvend.tariffs"
    label = "tariffs"
    verbose_name = "Tariffs"
