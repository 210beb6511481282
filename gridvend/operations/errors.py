"""Refusals of backups and restores with stable codes (docs/operations.md)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class OperationsErrorCode(StrEnum):
    BACKUP_KEY_MISSING = "BACKUP_KEY_MISSING"
    BACKUP_NOT_A_BACKUP = "BACKUP_NOT_A_BACKUP"
    BACKUP_WRONG_KEY = "BACKUP_WRONG_KEY"
    BACKUP_TAMPERED = "BACKUP_TAMPERED"
    BACKUP_ENGINE_MISMATCH = "BACKUP_ENGINE_MISMATCH"
    BACKUP_TOOL_FAILED = "BACKUP_TOOL_FAILED"
    RESTORE_TARGET_NOT_EMPTY = "RESTORE_TARGET_NOT_EMPTY"


class BackupKeyMissing(DomainError):
    code = OperationsErrorCode.BACKUP_KEY_MISSING
    message_template = gettext_lazy(
        "No backup key: set GRIDVEND_BACKUP_KEY to 64 hexadecimal digits (32 random bytes), "
        "different from the master key, and keep a copy away from the backups."
    )

    def __init__(self) -> None:
        super().__init__()


class BackupNotABackup(DomainError):
    code = OperationsErrorCode.BACKUP_NOT_A_BACKUP
    message_template = gettext_lazy("%(path)s is not a gridvend backup (%(problem)s).")

    def __init__(self, *, path: str, problem: str) -> None:
        super().__init__(path=path, problem=problem)


class BackupWrongKey(DomainError):
    code = OperationsErrorCode.BACKUP_WRONG_KEY
    message_template = gettext_lazy(
        "The backup was made under backup key %(made_with)s; the key given is %(given)s. Set "
        "GRIDVEND_BACKUP_KEY to the key the backup was made with."
    )

    def __init__(self, *, made_with: str, given: str) -> None:
        super().__init__(made_with=made_with, given=given)


class BackupTampered(DomainError):
    code = OperationsErrorCode.BACKUP_TAMPERED
    message_template = gettext_lazy(
        "The backup %(path)s does not authenticate: it was changed, cut short or damaged after "
        "it was made. Nothing was restored from it."
    )

    def __init__(self, *, path: str) -> None:
        super().__init__(path=path)


class BackupEngineMismatch(DomainError):
    code = OperationsErrorCode.BACKUP_ENGINE_MISMATCH
    message_template = gettext_lazy(
        "The backup is of a %(made_from)s database; it cannot be restored into %(target)s."
    )

    def __init__(self, *, made_from: str, target: str) -> None:
        super().__init__(made_from=made_from, target=target)


class BackupToolFailed(DomainError):
    code = OperationsErrorCode.BACKUP_TOOL_FAILED
    message_template = gettext_lazy("%(tool)s failed (exit %(status)s): %(detail)s")
    # pg_dump / pg_restore ran and failed; could not be run at all; or is older than the server
    # it would dump (pg_dump refuses a newer server, so the check comes before anything is written).
    variant_param = "reason"
    message_variants = {
        "failed": gettext_lazy("%(tool)s failed (exit %(status)s): %(detail)s"),
        "missing": gettext_lazy(
            "%(tool)s cannot be run (%(detail)s): install PostgreSQL's client programs (Debian: "
            "postgresql-client-NN, NN the server's major version or newer) and put them on the "
            "PATH of this process. Nothing was written."
        ),
        "too_old": gettext_lazy(
            "%(tool)s is PostgreSQL %(client)s and the database server PostgreSQL %(server)s: "
            "%(tool)s cannot dump a newer server. Install postgresql-client-%(server)s (or newer) "
            "on this machine. Nothing was written."
        ),
    }

    def __init__(
        self,
        *,
        tool: str,
        detail: str,
        status: int | None = None,
        reason: str = "failed",
        client: int | None = None,
        server: int | None = None,
    ) -> None:
        params: dict[str, object] = {"tool": tool, "detail": detail, "reason": reason}
        if status is not None:
            params["status"] = status
        if client is not None or server is not None:
            params.update(client=client, server=server)
        super().__init__(**params)


class RestoreTargetNotEmpty(DomainError):
    code = OperationsErrorCode.RESTORE_TARGET_NOT_EMPTY
    message_template = gettext_lazy(
        "%(target)s is not empty: a backup is restored only into an empty database, never over "
        "one that holds data."
    )
    # A SQLite target whose journal files outlived their database: SQLite would replay them
    # into the restored file the first time it is opened.
    variant_param = "reason"
    message_variants = {
        "holds_data": gettext_lazy(
            "%(target)s is not empty: a backup is restored only into an empty database, never "
            "over one that holds data."
        ),
        "leftovers": gettext_lazy(
            "%(files)s, left by a database that was open at %(target)s, are still there: SQLite "
            "would replay them into the restored database. Move them away with the old "
            "database, or restore to another path."
        ),
    }

    def __init__(self, *, target: str, files: str | None = None) -> None:
        if files is None:
            super().__init__(target=target, reason="holds_data")
        else:
            super().__init__(target=target, reason="leftovers", files=files)
