"""`gridvend restore FILE --database-url URL`: restore a backup into an empty database and
verify it; `gridvend restore FILE --verify-only`: verify this installation's database against a
backup (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.kernel.errors import DomainError
from gridvend.operations import backup, restore


class Command(BaseCommand):
    help = (
        "Restore a backup into an EMPTY database (--database-url, sqlite:/// or postgresql://) "
        "and verify it: row counts, ledger balanced, audit chain intact, latest sale present. "
        "--verify-only checks the database this installation uses against the backup instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--database-url", default="")
        parser.add_argument("--verify-only", action="store_true")
        parser.add_argument(
            "--checkpoint-file",
            type=Path,
            default=None,
            help="Also compare the audit chain with these signed checkpoints (a backup older "
            "than the latest checkpoint then reports the rows made since).",
        )
        parser.add_argument("--json", action="store_true", help="The verification as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            verification = self._run(options)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        if options["json"]:
            self.stdout.write(verification.as_json())
        else:
            for check in verification.checks:
                mark = "ok  " if check.ok else "FAIL"
                self.stdout.write(f"{mark} {check.name}: {check.detail}")
            for note in verification.notes:
                self.stdout.write(f"note: {note}")
        if not verification.ok:
            raise CommandError("the restored database does not verify (see above)")
        if not options["json"]:
            self.stdout.write("restore verified")

    def _run(self, options: dict[str, Any]) -> restore.Verification:
        path: Path = options["file"]
        if options["verify_only"]:
            header = backup.decrypt(path, None)
            return restore.verify(header, checkpoint_file=options["checkpoint_file"])
        if not options["database_url"]:
            raise CommandError("name the empty database to restore into: --database-url URL")
        return restore.restore(
            path, options["database_url"], checkpoint_file=options["checkpoint_file"]
        )
