"""App configuration for customers, premises and arrears."""

from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "gridvend.customers"
    label = "customers"
    verbose_name = "Customers"
