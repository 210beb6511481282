"""App configuration for sales, tokens and the vending services."""

from django.apps import AppConfig


class VendingConfig(AppConfig):
    name = "gridvend.vending"
    label = "vending"
    verbose_name = "Vending"
