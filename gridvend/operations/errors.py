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

    def __init__(self, *, tool: str, status: int, detail: str) -> None:
        super().__init__(tool=tool, status=status, detail=detail)


class RestoreTargetNotEmpty(DomainError):
    code = OperationsErrorCode.RESTORE_TARGET_NOT_EMPTY
    message_template = gettext_lazy(
        "%(target)s is not empty: a backup is restored only into an empty database, never over "
        "one that holds data."
    )

    def __init__(self, *, target: str) -> None:
        super().__init__(target=target)
