"""App configuration for the demonstration utility loader."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "gridvend.demo"
    label = "demo"
    verbose_name = "Demo utility"
