"""`gridvend ledger reconcile`: check kept balances against postings and entries balance."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.ledger.checks import run_checks
from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries


class Command(BaseCommand):
    help = (
        "Ledger tools. `reconcile` compares every kept balance (floats, wallets) with its "
        "postings and reports differences, entries that do not balance, and subledgers "
        "(mobile-money suspense) that do not tie to their account."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["reconcile"])

    def handle(self, *args: Any, **options: Any) -> None:
        mismatches = reconcile_balances()
        for m in mismatches:
            self.stdout.write(
                f"MISMATCH {m.code}: kept {m.kept_minor}, postings sum to {m.posted_minor}"
            )
        unbalanced = unbalanced_entries()
        for entry_id in unbalanced:
            self.stdout.write(f"UNBALANCED entry {entry_id}")
        subledgers = run_checks()
        for finding in subledgers:
            self.stdout.write(f"UNTIED {finding}")
        if mismatches or unbalanced or subledgers:
            raise CommandError(
                f"ledger does not reconcile: {len(mismatches)} balance(s), "
                f"{len(unbalanced)} entry(ies), {len(subledgers)} subledger finding(s)"
            )
        self.stdout.write(
            "ledger reconciles: every kept balance equals its postings, every subledger "
            "ties to its account"
        )
