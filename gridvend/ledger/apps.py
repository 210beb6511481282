"""App configuration for the double-entry ledger."""

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "gridvend.ledger"
    label = "ledger"
    verbose_name = "Ledger"
