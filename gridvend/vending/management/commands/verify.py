"""`gridvend verify`: every tamper check in one run — the audit chain against its signed
checkpoints, the database guards, every sale, token, reversal, shift, debt and float top-up
against its audit events, each debt's balance against the sales, every journal entry's owner,
and the ledger's balances — with a non-zero exit on any finding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from gridvend.audit import checkpoints, triggers
from gridvend.audit.verify import sign_checkpoint, verify_chain
from gridvend.ledger import triggers as ledger_triggers
from gridvend.ledger.checks import run_checks
from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries
from gridvend.vending.integrity.books import (
    verify_debts,
    verify_float_top_ups,
    verify_journal_entries,
)
from gridvend.vending.integrity.common import Report
from gridvend.vending.integrity.sales import verify_sales
from gridvend.vending.integrity.shifts import verify_shifts


class Command(BaseCommand):
    help = (
        "Check everything that could have been tampered with: the audit chain and its signed "
        "checkpoints, the append-only triggers, every sale, token, reversal, shift, debt and "
        "float top-up against its audit events, every journal entry's owner, and the ledger. "
        "Exits non-zero on any finding. Signs a new audit checkpoint when the chain is intact."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        checkpoints.add_arguments(parser)

    def _section(self, name: str, summary: str, findings: list[str]) -> int:
        self.stdout.write(f"{name}: {summary} — {'FAILED' if findings else 'ok'}")
        for finding in findings:
            self.stdout.write(f"  TAMPERED: {finding}")
        return len(findings)

    def _bound(self, name: str, summary: str, report: Report, unbound: str) -> int:
        if report.unbound:
            summary += f" ({report.unbound} recorded before digests: compared on {unbound} only)"
        return self._section(name, summary, report.problems)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["checkpoint_file"] or checkpoints.default_path()
        failed: dict[str, int] = {}

        signed = checkpoints.read(path)
        chain = verify_chain(checkpoints=signed.checkpoints)
        failed["audit chain"] = self._section(
            "audit chain",
            f"{chain.checked} rows, {len(signed.checkpoints)} signed checkpoint(s) in {path}",
            signed.problems + chain.problems,
        )

        guards = triggers.findings(connection) + ledger_triggers.findings(connection)
        failed["database guards"] = self._section(
            "database guards",
            f"append-only triggers on {len(triggers.GUARDS)} tables, the kept-balance trigger",
            guards,
        )

        sales = verify_sales()
        summary = (
            f"{sales.sales} sales, {sales.tokens} tokens, {sales.reversals} reversals "
            "compared with their audit events"
        )
        if sales.unbound:
            summary += (
                f" ({sales.unbound} recorded before digests: compared on reference, tender, "
                "kWh and their tokens' kinds, TIDs and units only)"
            )
        failed["sales and tokens"] = self._section("sales and tokens", summary, sales.problems)

        shifts = verify_shifts()
        failed["shifts"] = self._bound(
            "shifts",
            f"{shifts.checked} shifts compared with their opening and closing events",
            shifts,
            "the opening float and the closing counts, expected takings and over/short",
        )

        debts = verify_debts()
        failed["debts"] = self._bound(
            "debts",
            f"{debts.checked} debts compared with their opening events, balances with the "
            "completed sales that recovered them",
            debts,
            "the amount, reason, source, account and journal entry",
        )

        top_ups = verify_float_top_ups()
        failed["float top-ups"] = self._bound(
            "float top-ups",
            f"{top_ups.checked} top-ups compared with their audit events",
            top_ups,
            "the amount",
        )

        entries = verify_journal_entries()
        failed["journal entries"] = self._section(
            "journal entries",
            f"{entries.checked} entries, each belonging to one sale, reversal, debt or float "
            "top-up",
            entries.problems,
        )

        ledger = [
            f"account {m.code}: kept balance {m.kept_minor}, postings sum to {m.posted_minor}"
            for m in reconcile_balances()
        ] + [f"journal entry {entry_id} does not balance" for entry_id in unbalanced_entries()]
        ledger += run_checks()
        failed["ledger"] = self._section(
            "ledger",
            "kept balances against postings, entries balanced, subledgers tied",
            ledger,
        )

        if chain.ok and not signed.problems and not options["no_checkpoint"]:
            self.stdout.write(sign_checkpoint(chain, path))
        total = sum(failed.values())
        if total:
            parts = ", ".join(f"{name} {count}" for name, count in failed.items() if count)
            raise CommandError(f"verification failed: {total} finding(s) ({parts})")
        self.stdout.write("everything verifies")
