"""`gridvend audit verify|checkpoint`: recompute every stream of the audit hash chain against the
signed checkpoints kept outside the database, and sign new ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.audit import checkpoints
from gridvend.audit.verify import sign_checkpoint, verify_chain


class Command(BaseCommand):
    help = (
        "Audit trail tools. `verify` recomputes every stream of the hash chain, compares each "
        "with its recorded end and every signed checkpoint and, when intact, signs new ones. "
        "`checkpoint` verifies only the rows since each stream's latest checkpoint and signs "
        "new ones (run it from a timer)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify", "checkpoint"])
        checkpoints.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["checkpoint_file"] or checkpoints.default_path()
        signed = checkpoints.read(path)
        for problem in signed.problems:
            self.stdout.write(f"TAMPERED: {problem}")
        if options["action"] == "checkpoint":
            report = verify_chain(since=signed.latest)
        else:
            report = verify_chain(checkpoints=signed.checkpoints)
        for problem in report.problems:
            self.stdout.write(f"TAMPERED: {problem}")
        problems = len(signed.problems) + len(report.problems)
        if problems:
            raise CommandError(
                f"audit chain broken: {problems} problem(s) in {report.checked} rows; "
                "no checkpoint signed"
            )
        latest = signed.latest
        if options["action"] == "checkpoint" and latest:
            done = (
                f"{report.checked} new rows verified since the checkpoints of {len(latest)} "
                "stream(s)"
            )
        elif signed.checkpoints:
            done = f"{report.checked} rows verified against {len(signed.checkpoints)} checkpoint(s)"
        else:
            done = f"{report.checked} rows verified (no earlier checkpoint in {path})"
        self.stdout.write(f"audit chain intact: {done}")
        if not options["no_checkpoint"]:
            self.stdout.write(sign_checkpoint(report, path))
