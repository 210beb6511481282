"""App configuration for the append-only, hash-chained audit trail."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from gridvend.audit.chain import sha256_hex


def _register_sqlite_functions(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """SQLite has no SHA-256 of its own; appending an event computes its link hash in SQL
    (gridvend.audit.services), so every connection gets one. Deterministic: the same text
    always gives the same hash, which lets SQLite use it wherever an expression may appear."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("sha256_hex", 1, sha256_hex, deterministic=True)


class AuditConfig(AppConfig):
    name = "gridvend.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        connection_created.connect(_register_sqlite_functions, dispatch_uid="gridvend.audit.sqlite")
