"""App configuration for the customer portal (templates and static files)."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "gridvend.portal"
    label = "portal"
    verbose_name = "Customer portal"
