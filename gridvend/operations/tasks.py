"""The scheduled backup (declared in apps.py when GRIDVEND_BACKUP_KEY is set)."""

from __future__ import annotations

import logging

from gridvend.operations import backup

log = logging.getLogger(__name__)


def scheduled_backup() -> str:
    """Take a backup and keep the GRIDVEND_BACKUP_KEEP newest. A failure raises, so the job
    system records it as failed (and monitoring sees it)."""
    made = backup.take_backup()
    deleted = backup.prune()
    log.info("backup written: %s (%s bytes); %s older deleted", made.path, made.size, len(deleted))
    return str(made.path)
