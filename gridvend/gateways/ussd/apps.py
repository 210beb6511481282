"""The phone gateway as an app, so that `gridvend phone` is one of its commands."""

from django.apps import AppConfig


class PhoneGatewayConfig(AppConfig):
    name = "gridvend.gateways.ussd"
    label = "phone_gateway"
    verbose_name = "USSD and SMS (Africa's Talking)"
