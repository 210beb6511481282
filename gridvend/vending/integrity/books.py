"""Checks the money records that are not sales: each debt against its opening event and its
balance against the sales that recovered it, each float top-up against its event, and that every
journal entry belongs to exactly one sale, reversal, debt or float top-up.

A debt's balance moves at every sale that recovers from it and back at the sale's reversal, so
no single event can carry it without adding a write to the vend path. It is derived instead:
the balance must equal the original (bound by the debt's opening event) less every amount that a
completed sale took from it. Those amounts are the sale's ``debt_allocations``, part of the
breakdown its digest binds, and whether a sale is completed is bound by the trail's record of its
reversal; so a balance that differs was edited, or a sale was.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from gridvend.audit.models import AuditEvent
from gridvend.customers.integrity import DEBT_TARGET, OPENED_EVENT, debt_binding
from gridvend.customers.models import Debt
from gridvend.ledger.digests import posted_lines
from gridvend.vending.integrity.common import (
    Report,
    after,
    batches,
    events_for,
    recorded_digests,
    report_missing,
)
from gridvend.vending.models import Sale, SaleStatus

# --- debts ---------------------------------------------------------------------------------------


def _recovered(debts: list[Debt]) -> dict[int, int]:
    """What completed sales took from each of these debts (read in the debts' snapshot)."""
    wanted = {debt.pk for debt in debts}
    taken: dict[int, int] = defaultdict(int)
    breakdowns = Sale.objects.filter(
        customer_id__in={debt.customer_id for debt in debts},
        status=SaleStatus.COMPLETED,
        debt_recovered_minor__gt=0,
    ).values_list("breakdown", flat=True)
    for breakdown in breakdowns:
        allocations = breakdown.get("debt_allocations") if isinstance(breakdown, dict) else None
        for pair in allocations if isinstance(allocations, list) else []:
            # A malformed allocation is the sale check's finding (its digest); skip it here.
            if isinstance(pair, list) and len(pair) == 2 and pair[0] in wanted:
                taken[pair[0]] += pair[1] if isinstance(pair[1], int) else 0
    return taken


def _unbound_debt_differences(debt: Debt, recorded: dict[str, Any]) -> list[str]:
    """Events written before digests carried the amount, reason, source, account and entry."""
    differences = []
    amount = recorded.get("amount")
    if isinstance(amount, dict):
        if amount.get("minor") != debt.original_minor:
            differences.append("original_minor")
        if amount.get("currency") != debt.currency:
            differences.append("currency")
    for name, stored in (
        ("reason", debt.reason),
        ("source", debt.source),
        ("customer", debt.customer.account_number),
        ("journal_entry", debt.journal_entry_id),
    ):
        if name in recorded and recorded[name] != stored:
            differences.append(name)
    return differences


def _check_debt(
    report: Report,
    debt: Debt,
    events: list[AuditEvent],
    lines: dict[int, Any],
    recovered: int,
) -> None:
    label = f"debt {debt.pk} of account {debt.customer.account_number}"
    opened = next((e for e in events if e.event_type == OPENED_EVENT), None)
    if opened is None:
        report.problems.append(
            f"{label} has no opening event in the audit trail (written outside gridvend, or its "
            "event deleted)"
        )
    else:
        digests = recorded_digests(opened)
        if digests is not None:
            stored = debt_binding(debt, lines.get(debt.journal_entry_id or 0, []))
            if digests.get("debt") != stored["debt"]:
                report.problems.append(
                    f"{label}: its original amount, customer, reason or journal entry differ "
                    f"from what audit event #{opened.seq} recorded (edited)"
                )
            if digests.get("journal") != stored["journal"]:
                report.problems.append(
                    f"{label}: its journal postings differ from what audit event #{opened.seq} "
                    "recorded (edited)"
                )
        else:
            report.unbound += 1
            differences = _unbound_debt_differences(debt, after(opened))
            if differences:
                report.problems.append(
                    f"{label}: {', '.join(differences)} differ from what audit event "
                    f"#{opened.seq} recorded (edited)"
                )
    expected = debt.original_minor - recovered
    if debt.balance_minor != expected:
        report.problems.append(
            f"{label}: its balance is {debt.balance_minor} but the original {debt.original_minor} "
            f"less {recovered} recovered by completed sales leaves {expected} (edited)"
        )


def verify_debts(*, batch: int = 1000) -> Report:
    """Compare every debt with its opening event, and its balance with the sales."""
    report = Report()
    for debts in batches(Debt.objects.select_related("customer"), batch):
        events = events_for(DEBT_TARGET, [d.pk for d in debts], (OPENED_EVENT,))
        lines = posted_lines([d.journal_entry_id for d in debts if d.journal_entry_id is not None])
        recovered = _recovered(debts)
        for debt in debts:
            report.checked += 1
            _check_debt(report, debt, events[debt.pk], lines, recovered[debt.pk])
    report_missing(
        report.problems,
        model=Debt,
        target_type=DEBT_TARGET,
        event_types=(OPENED_EVENT,),
        prefix="debt ",
        batch=batch,
    )
    return report
