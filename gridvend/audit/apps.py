"""App configuration for the append-only, hash-chained audit trail."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "gridvend.audit"
    label = "audit"
    verbose_name = "Audit trail"
