"""App configuration for the staff and cashier screens."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "gridvend.web"
    label = "web"
    verbose_name = "Back office"
