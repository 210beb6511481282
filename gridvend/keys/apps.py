"""App configuration for the encrypted vending-key store and the software STS token engine."""

from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "gridvend.keys"
    label = "keys"
    verbose_name = "Vending keys"
