"""The partner channel's periodic jobs (declared in ``apps.py``, run by ``gridvend worker``):
each a plain function that is safe to run twice (every step re-reads and locks what it changes)."""

from __future__ import annotations

import logging

from gridvend.partners.services.advices import finalise_unconfirmed

log = logging.getLogger(__name__)

FINALISE_JOB = "gridvend.partners.tasks.finalise_unconfirmed_sales"
FINALISE_CRON = "*/5 * * * *"


def finalise_unconfirmed_sales() -> dict[str, int]:
    """Apply each partner's policy to sales left unconfirmed past its window."""
    done = finalise_unconfirmed()
    if any(done.values()):
        log.info("unconfirmed partner sales finalised: %s", done)
    return done
