"""App configuration for meters and their installation history."""

from django.apps import AppConfig


class MetersConfig(AppConfig):
    name = "gridvend.meters"
    label = "meters"
    verbose_name = "Meters"
