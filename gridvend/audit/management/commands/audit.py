"""`gridvend audit verify`: recompute the audit hash chain and report tampering."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.audit.verify import verify_chain


class Command(BaseCommand):
    help = (
        "Audit trail tools. `verify` recomputes the hash chain and reports edited or deleted rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        for problem in report.problems:
            self.stdout.write(f"TAMPERED: {problem}")
        if not report.ok:
            raise CommandError(
                f"audit chain broken: {len(report.problems)} problem(s) in {report.checked} rows"
            )
        self.stdout.write(f"audit chain intact: {report.checked} rows verified")
