"""The TCP bank link as an app, so that `gridvend banklink` is one of its commands."""

from django.apps import AppConfig


class BanklinkGatewayConfig(AppConfig):
    name = "gridvend.gateways.banklink"
    label = "banklink_gateway"
    verbose_name = "Bank link (TCP)"
