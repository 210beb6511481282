"""The scheduled backup (declared in apps.py when GRIDVEND_BACKUP_KEY is set)."""

from __future__ import annotations

import logging

from gridvend.operations import backup

log = logging.getLogger(__name__)


def scheduled_backup() -> str:
    """Take a backup and keep the GRIDVEND_BACKUP_KEEP newest. A failure raises, so the job
    system records it as failed (and monitoring sees it)."""
    made = backup.take_backup()
    deleted = backup.prune(just_made=made.path)
    log.info("backup written: %s (%s bytes); %s older deleted", made.path, made.size, len(deleted))
    for path in backup.dated_in_the_future():
        log.warning(
            "backup %s is dated in the future (made while the clock ran ahead?): it is neither "
            "counted nor deleted by pruning; delete it by hand once newer backups exist",
            path,
        )
    return str(made.path)
