"""App configuration for the organisation tree and vending points."""

from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "gridvend.org"
    label = "org"
    verbose_name = "Organisation"
