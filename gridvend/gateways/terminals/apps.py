"""The terminal gateway as an app, so that `gridvend terminals` and `gridvend terminal` are its
commands."""

from django.apps import AppConfig


class TerminalsGatewayConfig(AppConfig):
    name = "gridvend.gateways.terminals"
    label = "terminals_gateway"
    verbose_name = "Handheld terminal gateway (TCP)"
