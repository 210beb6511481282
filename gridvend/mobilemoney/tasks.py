"""The periodic mobile-money jobs: the back-fill (every 15 minutes), the status query of STK
pushes whose callback never came (every minute), and yesterday's reconciliation (each morning).
Each provider is done on its own: one unreachable provider does not hold up the others."""

from __future__ import annotations

import logging
from datetime import timedelta

from gridvend.kernel.errors import DomainError
from gridvend.ledger.services import today
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import MobileProvider

logger = logging.getLogger("gridvend.mobilemoney")

BACKFILL_JOB = "gridvend.mobilemoney.tasks.backfill_all"
BACKFILL_SCHEDULE = "gridvend.mobilemoney.backfill"
BACKFILL_CRON = "*/15 * * * *"
STK_JOB = "gridvend.mobilemoney.tasks.query_late_pushes"
STK_SCHEDULE = "gridvend.mobilemoney.stk_query"
STK_CRON = "* * * * *"
RECONCILE_JOB = "gridvend.mobilemoney.tasks.reconcile_yesterday"
RECONCILE_SCHEDULE = "gridvend.mobilemoney.reconcile"
RECONCILE_CRON = "30 5 * * *"


def _enabled() -> list[MobileProvider]:
    return list(MobileProvider.objects.filter(is_enabled=True).select_related("partner"))


def backfill_all() -> dict[str, int]:
    applied = {}
    for provider in _enabled():
        try:
            result = services.backfill(provider=provider)
        except DomainError as exc:
            logger.warning("back-fill of %s failed: %s", provider.code, exc.code)
            continue
        applied[provider.code] = result.applied
    return applied


def query_late_pushes() -> int:
    asked = 0
    for provider in _enabled():
        try:
            asked += services.query_late_pushes(provider=provider)
        except DomainError as exc:
            logger.warning("STK status query of %s failed: %s", provider.code, exc.code)
    return asked


def reconcile_yesterday() -> dict[str, int]:
    found = {}
    for provider in _enabled():
        try:
            recon = services.reconcile_day(provider=provider, day=today() - timedelta(days=1))
        except DomainError as exc:
            logger.warning("reconciliation of %s failed: %s", provider.code, exc.code)
            continue
        found[provider.code] = recon.discrepancies
    return found
