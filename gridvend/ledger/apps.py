"""App configuration for the double-entry ledger."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class LedgerConfig(AppConfig):
    name = "gridvend.ledger"
    label = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        # SQLite cannot rename a table that a trigger's body names, and Django remakes a table
        # (create, copy, drop, rename) for most changes to it: the kept-balance trigger names
        # ledger_account, so it is lifted for a migration run and put back after it.
        pre_migrate.connect(_lift_kept_balance_trigger, sender=self)
        post_migrate.connect(_restore_kept_balance_trigger, sender=self)


def _lift_kept_balance_trigger(using: str, **kwargs: Any) -> None:
    from gridvend.ledger import triggers

    triggers.lift_for_migrations(using)


def _restore_kept_balance_trigger(using: str, **kwargs: Any) -> None:
    from gridvend.ledger import triggers

    triggers.restore_after_migrations(using)
