"""`gridvend backup [create|list|verify FILE]`: encrypted backups (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridvend.kernel.errors import DomainError
from gridvend.operations import backup


class Command(BaseCommand):
    help = (
        "Backups. `create` (the default) writes an encrypted backup of the database into "
        "GRIDVEND_BACKUP_DIR and keeps the GRIDVEND_BACKUP_KEEP newest; `list` lists them; "
        "`verify FILE` authenticates a backup with the backup key and says what it holds, "
        "without restoring it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action", nargs="?", default="create", choices=["create", "list", "verify"]
        )
        parser.add_argument("file", nargs="?", type=Path)
        parser.add_argument("--dir", type=Path, default=None, help="Default: GRIDVEND_BACKUP_DIR.")
        parser.add_argument("--keep", type=int, default=None, help="Default: GRIDVEND_BACKUP_KEEP.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._handle(options)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from None

    def _handle(self, options: dict[str, Any]) -> None:
        directory: Path = options["dir"] or settings.BACKUP_DIR
        action = options["action"]
        if action == "list":
            for path in backup.list_backups(directory):
                try:
                    # The header is sealed under the backup key (format 2).
                    header = backup.read_header(path)
                except DomainError as error:
                    self.stdout.write(
                        f"{path}  {path.stat().st_size:,} bytes  unreadable: {error.code}"
                    )
                    continue
                rows = sum(int(n) for n in header.get("counts", {}).values())
                self.stdout.write(
                    f"{path}  {path.stat().st_size:,} bytes  {header.get('engine')}  "
                    f"made {header.get('made_at')}  {rows:,} rows"
                )
            return
        if action == "verify":
            if options["file"] is None:
                raise CommandError("name the backup file: gridvend backup verify FILE")
            header = backup.decrypt(options["file"], None)
            self.stdout.write(f"{options['file']}: authentic, {self._summary(header)}")
            return
        keep = options["keep"]
        if keep is not None and keep < 1:
            raise CommandError("--keep must be 1 or more")
        made = backup.take_backup(directory)
        self.stdout.write(
            f"backup written: {made.path} ({made.size:,} bytes), {self._summary(made.header)}"
        )
        for path in backup.prune(directory, keep, just_made=made.path):
            self.stdout.write(f"older backup deleted: {path}")
        for path in backup.dated_in_the_future(directory):
            self.stderr.write(
                f"dated in the future, so neither counted nor deleted: {path} (made while the "
                "clock ran ahead?); delete it by hand once newer backups exist"
            )

    @staticmethod
    def _summary(header: dict[str, Any]) -> str:
        counts = header.get("counts", {})
        latest = header.get("latest_sale") or {}
        return (
            f"{header.get('engine')} database {header.get('database')} made "
            f"{header.get('made_at')} by gridvend {header.get('gridvend')}: {len(counts)} tables, "
            f"{sum(int(n) for n in counts.values()):,} rows, latest sale "
            f"{latest.get('reference', 'none')}"
        )
