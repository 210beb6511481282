"""Binds and checks the money records that are not sales: each debt against its opening event
and its balance against the sales that recovered it, each float top-up against its event, and
every journal entry to exactly one owner (a sale, a reversal, a debt or a float top-up), whose
event binds the entry's postings.

A debt's balance moves at every sale that recovers from it and back at the sale's reversal, so
no single event can carry it without adding a write to the vend path. It is derived instead:
the balance must equal the original (bound by the debt's opening event) less every amount that a
completed sale took from it. Those amounts are the sale's ``debt_allocations``, part of the
breakdown its digest binds, and whether a sale is completed is bound by the trail's record of its
reversal; so a balance that differs was edited, or a sale was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import models

from gridvend.audit.digests import row_digest
from gridvend.audit.models import AuditEvent
from gridvend.customers.integrity import DEBT_TARGET, OPENED_EVENT, debt_binding
from gridvend.customers.models import Debt
from gridvend.ledger.digests import JournalLine, journal_digest, posted_lines
from gridvend.ledger.models import JournalEntry
from gridvend.ledger.owners import registered_owners
from gridvend.vending.events import VendingEvent
from gridvend.vending.integrity.common import (
    Report,
    after,
    batches,
    events_for,
    recorded_digests,
    report_missing,
)
from gridvend.vending.models import FloatTopUp, Reversal, Sale, SaleStatus

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
                    f"from what audit event #{opened.pk} recorded (edited)"
                )
            if digests.get("journal") != stored["journal"]:
                report.problems.append(
                    f"{label}: its journal postings differ from what audit event #{opened.pk} "
                    "recorded (edited)"
                )
        else:
            report.unbound += 1
            differences = _unbound_debt_differences(debt, after(opened))
            if differences:
                report.problems.append(
                    f"{label}: {', '.join(differences)} differ from what audit event "
                    f"#{opened.pk} recorded (edited)"
                )
    expected = debt.original_minor - recovered - debt.settled_minor
    if debt.balance_minor != expected:
        settled = (
            f" and {debt.settled_minor} settled by bill payments" if debt.settled_minor else ""
        )
        report.problems.append(
            f"{label}: its balance is {debt.balance_minor} but the original {debt.original_minor} "
            f"less {recovered} recovered by completed sales{settled} leaves {expected} (edited)"
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


# --- float top-ups -------------------------------------------------------------------------------

TOP_UP_TARGET = "vending.floattopup"
TOPPED_UP_EVENT = VendingEvent.FLOAT_TOPPED_UP
# Before digests, the event named the vending point, and the top-up by its bank reference.
LEGACY_TOP_UP_TARGET = "org.vendingpoint"

TOP_UP_FIELDS = (
    "vending_point_id",
    "reference",
    "amount_minor",
    "currency",
    "journal_entry_id",
    "recorded_by_id",
    "created_at",
)


def top_up_binding(top_up: FloatTopUp, journal_lines: Iterable[JournalLine]) -> dict[str, str]:
    """What a top-up's event records about it (written with the top-up)."""
    return {
        "top_up": row_digest(top_up, TOP_UP_FIELDS),
        "journal": journal_digest(top_up.journal_entry_id, journal_lines),
    }


def _legacy_top_up_events(rows: list[FloatTopUp]) -> dict[tuple[int, str], AuditEvent]:
    """The events of top-ups recorded before digests, by vending point and reference."""
    if not rows:
        return {}
    found: dict[tuple[int, str], AuditEvent] = {}
    events = AuditEvent.objects.filter(
        target_type=LEGACY_TOP_UP_TARGET,
        target_id__in=[str(r.vending_point_id) for r in rows],
        event_type=TOPPED_UP_EVENT,
    ).order_by("id")
    for event in events:
        found.setdefault((int(event.target_id), str(after(event).get("reference"))), event)
    return found


def _check_top_up(
    report: Report,
    row: FloatTopUp,
    event: AuditEvent | None,
    lines: dict[int, Any],
) -> None:
    label = f"float top-up {row.reference} at {row.vending_point.code} (id {row.pk})"
    if event is None:
        report.problems.append(
            f"{label} has no audit event (written outside gridvend, or its event deleted)"
        )
        return
    digests = recorded_digests(event)
    if digests is None:
        report.unbound += 1
        amount = after(event).get("amount")
        if isinstance(amount, dict) and (amount.get("minor"), amount.get("currency")) != (
            row.amount_minor,
            row.currency,
        ):
            report.problems.append(
                f"{label}: its amount differs from what audit event #{event.pk} recorded (edited)"
            )
        return
    stored = top_up_binding(row, lines.get(row.journal_entry_id, []))
    if digests.get("top_up") != stored["top_up"]:
        report.problems.append(
            f"{label}: its amount, reference, vending point or journal entry differ from what "
            f"audit event #{event.pk} recorded (edited)"
        )
    if digests.get("journal") != stored["journal"]:
        report.problems.append(
            f"{label}: its journal postings differ from what audit event #{event.pk} recorded "
            "(edited)"
        )


def _missing_legacy_top_ups(report: Report, batch: int) -> None:
    """Top-ups recorded before digests whose row is gone."""
    last = 0
    while True:
        chunk = list(
            AuditEvent.objects.filter(
                id__gt=last, target_type=LEGACY_TOP_UP_TARGET, event_type=TOPPED_UP_EVENT
            ).order_by("id")[:batch]
        )
        if not chunk:
            return
        last = chunk[-1].pk
        wanted = {(int(e.target_id), str(after(e).get("reference"))) for e in chunk}
        present = set(
            FloatTopUp.objects.filter(
                vending_point_id__in={point for point, _ref in wanted},
                reference__in={ref for _point, ref in wanted},
            ).values_list("vending_point_id", "reference")
        )
        for event in chunk:
            key = (int(event.target_id), str(after(event).get("reference")))
            if key not in present:
                report.problems.append(
                    f"float top-up {key[1]} at {event.target_label} (vending point id {key[0]}), "
                    f"recorded by audit event #{event.pk}, is missing (deleted)"
                )


def verify_float_top_ups(*, batch: int = 1000) -> Report:
    """Compare every float top-up and its postings with its event."""
    report = Report()
    for rows in batches(FloatTopUp.objects.select_related("vending_point"), batch):
        events = events_for(TOP_UP_TARGET, [r.pk for r in rows], (TOPPED_UP_EVENT,))
        legacy = _legacy_top_up_events([r for r in rows if not events[r.pk]])
        lines = posted_lines([r.journal_entry_id for r in rows])
        for row in rows:
            report.checked += 1
            found = events[row.pk]
            event = found[0] if found else legacy.get((row.vending_point_id, row.reference))
            _check_top_up(report, row, event, lines)
    report_missing(
        report.problems,
        model=FloatTopUp,
        target_type=TOP_UP_TARGET,
        event_types=(TOPPED_UP_EVENT,),
        prefix="",
        batch=batch,
    )
    _missing_legacy_top_ups(report, batch)
    return report


# --- journal entries -----------------------------------------------------------------------------

# Whatever records a journal entry names it, uniquely; its own event binds the entry's postings.
ENTRY_OWNERS: tuple[tuple[type[models.Model], str], ...] = (
    (Sale, "sale"),
    (Reversal, "reversal"),
    (Debt, "debt"),
    (FloatTopUp, "float top-up"),
)


def verify_journal_entries(*, batch: int = 1000) -> Report:
    """Every entry belongs to exactly one sale, reversal, debt or float top-up, or to one record
    an app declared with ``ledger.owners.register_owner`` (a bill, a bill payment). One that belongs
    to none was written outside gridvend: nothing binds its postings, and balances moved with
    it would reconcile."""
    report = Report()
    for entries in batches(JournalEntry.objects.only("pk", "kind"), batch):
        ids = [e.pk for e in entries]
        owners: dict[int, list[str]] = defaultdict(list)
        for model, noun in ENTRY_OWNERS:
            claimed = model._default_manager.filter(journal_entry_id__in=ids).values_list(
                "journal_entry_id", flat=True
            )
            for entry_id in claimed:
                owners[entry_id].append(noun)
        # Entries of the apps above this one (billing's bills and payments), by their columns.
        for owner in registered_owners():
            column = f"{owner.field}_id"
            claimed = (
                apps.get_model(owner.model)
                ._default_manager.filter(**{f"{column}__in": ids})
                .values_list(column, flat=True)
            )
            for entry_id in claimed:
                owners[entry_id].append(owner.noun)
        for entry in entries:
            report.checked += 1
            found = owners[entry.pk]
            if not found:
                report.problems.append(
                    f"journal entry {entry.pk} ({entry.kind}) belongs to no sale, reversal, debt "
                    "or float top-up (written outside gridvend)"
                )
            elif len(found) > 1:
                report.problems.append(
                    f"journal entry {entry.pk} ({entry.kind}) is claimed by a "
                    f"{' and a '.join(found)} (edited)"
                )
    return report
