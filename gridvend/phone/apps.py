"""App configuration for the phone channels (USSD and two-way SMS)."""

from django.apps import AppConfig


class PhoneConfig(AppConfig):
    name = "gridvend.phone"
    label = "phone"
    verbose_name = "Phone channels"
