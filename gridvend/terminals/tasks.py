"""The terminals' periodic job: each morning, yesterday's reconciliation of the agents' cash in
transit against the gateway's stored replies (``services.cash.reconcile_cash_day``)."""

from __future__ import annotations

from datetime import timedelta

from gridvend.ledger.services import today

RECONCILE_JOB = "gridvend.terminals.tasks.reconcile_yesterday"
RECONCILE_SCHEDULE = "gridvend.terminals.reconcile"
RECONCILE_CRON = "45 5 * * *"


def reconcile_yesterday() -> dict[str, int]:
    """Run again for the same day, it replaces that day's results (idempotent)."""
    from gridvend.terminals.services.cash import reconcile_cash_day

    results = reconcile_cash_day(day=today() - timedelta(days=1))
    return {"agents": len(results), "differing": sum(not r.is_clean for r in results)}
