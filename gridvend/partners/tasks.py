"""The partner channel's periodic jobs (declared in ``apps.py``, run by ``gridvend worker``):
each a plain function that is safe to run twice (every step re-reads and locks what it changes)."""

from __future__ import annotations

import logging

from gridvend.partners.services.advices import finalise_unconfirmed
from gridvend.partners.services.floats import check_low_floats

log = logging.getLogger(__name__)

FINALISE_JOB = "gridvend.partners.tasks.finalise_unconfirmed_sales"
FINALISE_CRON = "*/5 * * * *"
LOW_FLOAT_JOB = "gridvend.partners.tasks.check_partner_floats"
LOW_FLOAT_CRON = "*/15 * * * *"


def finalise_unconfirmed_sales() -> dict[str, int]:
    """Apply each partner's policy to sales left unconfirmed past its window."""
    done = finalise_unconfirmed()
    if any(done.values()):
        log.info("unconfirmed partner sales finalised: %s", done)
    return done


def check_partner_floats() -> dict[str, int]:
    """Alert on floats that fell low without a sale (a credit line or alert level changed)."""
    done = check_low_floats()
    if any(done.values()):
        log.info("partner floats checked: %s", done)
    return done
