"""App configuration for customer logins (the portal's accounts)."""

from django.apps import AppConfig


class LoginsConfig(AppConfig):
    name = "gridvend.logins"
    label = "logins"
    verbose_name = "Customer logins"
