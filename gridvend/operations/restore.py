"""Restoring a backup into an empty database, and proving what came back (issue 19).

``restore`` authenticates the whole file before a byte of it reaches the database (a tampered or
cut backup restores nothing), loads it (``pg_restore`` in one transaction on PostgreSQL, the file
itself on SQLite), then verifies the restored database in a process of its own pointed at it:
every table holds the rows the backup counted, the ledger balances and every kept balance equals
its postings, the audit hash chain is intact, and the latest sale is there as it was. Migrations
the running code has and the backup had not are named (run ``gridvend migrate``); a backup newer
than the code fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from gridvend.configuration import database_from_url
from gridvend.operations import backup
from gridvend.operations.errors import (
    BackupEngineMismatch,
    BackupToolFailed,
    RestoreTargetNotEmpty,
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "checks": [vars(check) for check in self.checks],
                "notes": self.notes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Verification:
        data = json.loads(text)
        return cls([Check(**check) for check in data["checks"]], list(data["notes"]))


def _target_engine(params: dict[str, Any]) -> str:
    return "sqlite" if params["ENGINE"].endswith("sqlite3") else "postgresql"


def _pg_conninfo(params: dict[str, Any]) -> dict[str, Any]:
    info = {
        "dbname": params["NAME"],
        "host": params.get("HOST") or None,
        "port": params.get("PORT") or None,
        "user": params.get("USER") or None,
        "password": params.get("PASSWORD") or None,
    }
    return {key: value for key, value in info.items() if value is not None}


# Files SQLite keeps beside a database: a WAL (and its index) or a rollback journal that
# outlived its database would be replayed into a new file at the same path the first time it is
# opened.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _refuse_unless_empty_sqlite(path: Path, described: str) -> None:
    if path.exists() and path.stat().st_size > 0:
        raise RestoreTargetNotEmpty(target=described)
    # lexists: a link there, even a dangling one, is something SQLite would open.
    left = [f"{path}{suffix}" for suffix in SQLITE_SIDE_FILES if os.path.lexists(f"{path}{suffix}")]
    if left:
        raise RestoreTargetNotEmpty(target=described, files=", ".join(left))


def _refuse_unless_empty(params: dict[str, Any], described: str) -> None:
    if _target_engine(params) == "sqlite":
        _refuse_unless_empty_sqlite(Path(params["NAME"]), described)
        return
    import psycopg

    with psycopg.connect(**_pg_conninfo(params)) as target, target.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        row = cursor.fetchone()
        if row is None or int(row[0]) > 0:
            raise RestoreTargetNotEmpty(target=described)


def _described(params: dict[str, Any]) -> str:
    if _target_engine(params) == "sqlite":
        return f"SQLite file {params['NAME']}"
    return f"PostgreSQL database {params['NAME']}"


def restore(path: Path, database_url: str, *, checkpoint_file: Path | None = None) -> Verification:
    """Restore the backup at ``path`` into the empty database ``database_url`` and verify it."""
    params = database_from_url(database_url, base_dir=settings.BASE_DIR)
    header = backup.read_header(path)
    target_engine = _target_engine(params)
    if header.get("engine") != target_engine:
        raise BackupEngineMismatch(made_from=str(header.get("engine")), target=target_engine)
    described = _described(params)
    _refuse_unless_empty(params, described)
    if target_engine == "sqlite":
        _restore_sqlite(path, Path(params["NAME"]), described)
    else:
        _restore_postgresql(path, params)
    return verify_in_child(path, database_url, checkpoint_file=checkpoint_file)


def _restore_sqlite(path: Path, target: Path, described: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    leftovers = re.compile(rf"^(?P<owner>\.{re.escape(target.name)}\.restoring-[0-9a-f]{{16}})$")
    backup.remove_leftovers(target.parent, leftovers)
    # A name of its own (never a file or link already there, locked while written): two
    # restores into one target at once each write their own file, and one of them is refused.
    partial = target.with_name(f".{target.name}.restoring-{secrets.token_hex(8)}")
    descriptor = backup.create_private(partial)
    try:
        with os.fdopen(descriptor, "wb") as out:
            backup.decrypt(path, out)
            out.flush()
            os.fsync(out.fileno())
            # Checked again at the last moment: nothing is ever written over a database.
            _refuse_unless_empty_sqlite(target, described)
            _place(partial, target, described)
    finally:
        partial.unlink(missing_ok=True)


def _place(partial: Path, target: Path, described: str) -> None:
    """Put the restored file at ``target`` only if nothing but an empty file is there."""
    try:
        # A hard link is made only where no file is: never over one another restore just placed.
        os.link(partial, target, follow_symlinks=False)
        return
    except FileExistsError:
        pass
    except OSError:
        # A file system without hard links: the check made a moment ago stands.
        partial.replace(target)
        return
    facts = target.lstat()
    if not stat.S_ISREG(facts.st_mode) or facts.st_size > 0:
        raise RestoreTargetNotEmpty(target=described)
    # The empty file an operator made for the restore.
    partial.replace(target)


def _restore_postgresql(path: Path, params: dict[str, Any]) -> None:
    from gridvend.operations.backup import _pg_env

    environ = _pg_env(params)
    # Before the whole backup is decrypted: pg_restore can be run at all.
    backup.client_major("pg_restore", environ)
    # The clear dump exists only while pg_restore reads it, readable by its owner only.
    with tempfile.TemporaryDirectory(prefix="gridvend-restore-") as folder:
        dump = Path(folder) / "database.dump"
        descriptor = os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            backup.decrypt(path, out)
        try:
            finished = subprocess.run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    "--dbname",
                    str(params["NAME"]),
                    str(dump),
                ],
                capture_output=True,
                env=environ,
                check=False,
            )
        except OSError as exc:
            raise BackupToolFailed(
                tool="pg_restore", reason="missing", detail=exc.strerror or type(exc).__name__
            ) from None
    if finished.returncode != 0:
        detail = finished.stderr.decode("utf-8", "replace").strip()[:500]
        raise BackupToolFailed(tool="pg_restore", status=finished.returncode, detail=detail)


def verify_in_child(
    path: Path, database_url: str, *, checkpoint_file: Path | None = None
) -> Verification:
    """Run ``gridvend restore --verify-only`` in a process whose database is ``database_url``."""
    # The child authenticates the file again, under the same backup key.
    environ = {
        **os.environ,
        "GRIDVEND_DATABASE_URL": database_url,
        "GRIDVEND_BACKUP_KEY": backup.backup_key().hex(),
    }
    command = [sys.executable, "-m", "gridvend", "restore", str(path), "--verify-only", "--json"]
    if checkpoint_file is not None:
        command += ["--checkpoint-file", str(checkpoint_file)]
    finished = subprocess.run(command, capture_output=True, env=environ, check=False, text=True)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if not lines:
        detail = (finished.stderr or finished.stdout).strip()[-500:]
        raise BackupToolFailed(
            tool="gridvend restore --verify-only", status=finished.returncode, detail=detail
        )
    return Verification.from_json(lines[-1])


def verify(header: dict[str, Any], *, checkpoint_file: Path | None = None) -> Verification:
    """Compare this process's database with what the backup's header says it held."""
    from django.db.migrations.loader import MigrationLoader

    from gridvend.audit import checkpoints
    from gridvend.audit.verify import verify_chain
    from gridvend.keys.crypto import current_master_id
    from gridvend.keys.services import keys_that_do_not_open
    from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries
    from gridvend.vending.models import Sale

    result = Verification()
    expected: dict[str, int] = {str(k): int(v) for k, v in header.get("counts", {}).items()}
    found = backup._facts(connection.cursor(), connection.vendor)
    counts: dict[str, int] = found["counts"]
    differing = [
        f"{table}: {expected.get(table, 'absent')} in the backup, {counts.get(table, 'absent')} "
        "restored"
        for table in sorted(set(expected) | set(counts))
        if expected.get(table) != counts.get(table)
    ]
    result.checks.append(
        Check(
            "row counts",
            not differing,
            "; ".join(differing[:20])
            or f"{len(counts)} tables, {sum(counts.values()):,} rows, as the backup counted",
        )
    )
    mismatches = reconcile_balances()
    unbalanced = unbalanced_entries()
    result.checks.append(
        Check(
            "ledger balanced",
            not mismatches and not unbalanced,
            f"{len(mismatches)} kept balance(s) differ from their postings, "
            f"{len(unbalanced)} entry(ies) do not balance"
            if mismatches or unbalanced
            else "every entry balances; every kept balance equals its postings",
        )
    )
    pinned = checkpoints.read(checkpoint_file).checkpoints if checkpoint_file else ()
    report = verify_chain(checkpoints=pinned)
    result.checks.append(
        Check(
            "audit chain intact",
            not report.problems,
            "; ".join(report.problems[:5]) or f"{report.checked:,} audit rows verified",
        )
    )
    latest = header.get("latest_sale")
    if latest:
        sale = Sale.objects.filter(pk=latest["id"]).values("reference", "tender_minor", "status")
        row = sale.first()
        same = row is not None and (
            row["reference"],
            int(row["tender_minor"]),
            row["status"],
        ) == (latest["reference"], latest["tender_minor"], latest["status"])
        result.checks.append(
            Check(
                "latest sale present",
                same,
                f"sale {latest['reference']} (id {latest['id']}) "
                + ("is there as it was" if same else "is missing or differs"),
            )
        )
    else:
        result.notes.append("The backup held no sale.")
    keys_checked, keys_failing = keys_that_do_not_open()
    result.checks.append(
        Check(
            "vending keys open",
            not keys_failing,
            "; ".join(keys_failing[:5])
            + " (set GRIDVEND_MASTER_KEY to the master key of the server the backup was made on)"
            if keys_failing
            else f"{keys_checked} active vending key(s) open with master key "
            f"{current_master_id()} and match their check values",
        )
    )
    if not keys_checked:
        result.notes.append("The backup holds no active vending key: nothing can be sold yet.")
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    applied = set(loader.applied_migrations)
    unknown = sorted(f"{app}.{name}" for app, name in applied - known)
    result.checks.append(
        Check(
            "migrations known to this version",
            not unknown,
            "the backup was made by a newer gridvend: " + ", ".join(unknown[:10])
            if unknown
            else f"{len(applied)} applied migrations, all known",
        )
    )
    missing = sorted(f"{app}.{name}" for app, name in known - applied)
    if missing:
        result.notes.append(
            f"{len(missing)} migration(s) of this version are not applied yet: run "
            "`gridvend migrate` before serving (first: " + ", ".join(missing[:3]) + ")."
        )
    return result
