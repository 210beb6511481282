"""Binds every sale, its tokens, its journal lines and its reversal to the audit chain, and checks
the stored rows against those bindings.

A sale's creation event carries SHA-256 digests of the sale row, its tokens and its journal
lines, computed from the very objects being written; a reversal's event carries the digest of
the reversal row and its journal lines. The events are hash-chained and checkpointed outside the
database, so a row edited afterwards no longer matches its event. Nothing here costs the vend
path a query: the digests ride on the audit event it writes anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gridvend.audit.digests import digest, plain, row_digest
from gridvend.audit.models import AuditEvent
from gridvend.ledger.digests import JournalLine, journal_digest, posted_lines
from gridvend.vending.events import VendingEvent, sale_created
from gridvend.vending.integrity.common import batches, events_for, report_missing
from gridvend.vending.models import Reversal, Sale, SaleKind, SaleStatus, Token

SALE_TARGET = "vending.sale"
REVERSED_EVENT = VendingEvent.SALE_REVERSED

# Every column that decides money, energy, the meter, the tokens or who answers for the sale.
# Status and receipt_printed_at change after the sale; status is bound through sale.reversed.
SALE_FIELDS = (
    "reference",
    "kind",
    "vending_point_id",
    "channel",
    "client_reference",
    "request_fingerprint",
    "operator_id",
    "shift_id",
    "meter_id",
    "customer_id",
    "tariff_version_id",
    "currency",
    "tender_minor",
    "debt_recovered_minor",
    "fixed_charges_minor",
    "tax_minor",
    "energy_minor",
    "kwh",
    "priced_kwh",
    "fbe_kwh",
    "fixed_charges_paid_through",
    "breakdown",
    "reason",
    "payment_method",
    "payment_reference",
    "cash_received_minor",
    "debt_balance_after_minor",
    "key_sgc",
    "key_ti",
    "key_krn",
    "journal_entry_id",
    "created_at",
    "business_date",
    "business_month",
)
TOKEN_FIELDS = (
    "sequence",
    "meter_id",
    "kind",
    "digits",
    "token_class",
    "subclass",
    "tid",
    "tid_base_year",
    "units",
    "description",
    "created_at",
)
REVERSAL_FIELDS = (
    "sale_id",
    "reason",
    "reversed_by_id",
    "journal_entry_id",
    "refund_shift_id",
    "created_at",
)


def created_event_type(kind: str) -> str:
    """The audit event that records a new sale of this kind (and carries its digests)."""
    return sale_created(kind)


CREATED_EVENT_TYPES = frozenset(created_event_type(kind) for kind in SaleKind.values)


# --- digests -------------------------------------------------------------------------------------


def sale_digest(sale: Sale) -> str:
    return row_digest(sale, SALE_FIELDS)


def tokens_digest(tokens: Iterable[Token]) -> str:
    rows = [{name: plain(t, name) for name in TOKEN_FIELDS} for t in tokens]
    return digest(sorted(rows, key=lambda row: row["sequence"]))


def reversal_digest(reversal: Reversal) -> str:
    return digest({name: plain(reversal, name) for name in REVERSAL_FIELDS})


def sale_binding(
    sale: Sale, tokens: Sequence[Token], journal_lines: Iterable[JournalLine]
) -> dict[str, str]:
    """What a sale's creation event records about it (written with the sale)."""
    return {
        "sale": sale_digest(sale),
        "tokens": tokens_digest(tokens),
        "journal": journal_digest(sale.journal_entry_id, journal_lines),
    }


def reversal_binding(reversal: Reversal, journal_lines: Iterable[JournalLine]) -> dict[str, str]:
    return {
        "reversal": reversal_digest(reversal),
        "journal": journal_digest(reversal.journal_entry_id, journal_lines),
    }


# --- verification --------------------------------------------------------------------------------


@dataclass
class SalesReport:
    sales: int = 0
    tokens: int = 0
    reversals: int = 0
    # Sales written before their events carried digests: only the event's own fields compared.
    unbound: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _unbound_differences(sale: Sale, tokens: list[Token], after: dict[str, Any]) -> list[str]:
    """Events written before digests carried the tender, kWh and the tokens' TIDs and units."""
    differences = []
    for name in ("reference", "tender_minor", "currency"):
        if name in after and after[name] != getattr(sale, name):
            differences.append(name)
    if "kwh" in after and Decimal(str(after["kwh"])) != sale.kwh:
        differences.append("kwh")
    if "tokens" in after:
        recorded = [
            (t.get("kind"), t.get("tid"), None if t.get("units") is None else Decimal(t["units"]))
            for t in after["tokens"]
        ]
        stored = [(t.kind, t.tid, t.units) for t in tokens]
        if recorded != stored:
            differences.append("tokens")
    return differences


def _check_sale(
    report: SalesReport,
    sale: Sale,
    tokens: list[Token],
    events: list[AuditEvent],
    reversal: Reversal | None,
    lines: dict[int, list[JournalLine]],
) -> None:
    label = f"sale {sale.reference} (id {sale.pk})"
    created = [e for e in events if e.event_type in CREATED_EVENT_TYPES]
    reversed_events = [e for e in events if e.event_type == REVERSED_EVENT]
    if not created:
        report.problems.append(
            f"{label} has no creation event in the audit trail (written outside gridvend, "
            "or its event deleted)"
        )
    else:
        after = created[0].after if isinstance(created[0].after, dict) else {}
        recorded = after.get("digests")
        if isinstance(recorded, dict):
            stored = sale_binding(sale, tokens, lines.get(sale.journal_entry_id or 0, []))
            for part, what in (
                ("sale", "its amounts, kWh, meter or other recorded fields"),
                ("tokens", "its tokens (digits, TIDs, units or kinds)"),
                ("journal", "its journal postings"),
            ):
                if recorded.get(part) != stored[part]:
                    report.problems.append(
                        f"{label}: {what} differ from what audit event #{created[0].pk} "
                        "recorded (edited)"
                    )
        else:
            report.unbound += 1
            differences = _unbound_differences(sale, tokens, after)
            if differences:
                report.problems.append(
                    f"{label}: {', '.join(differences)} differ from what audit event "
                    f"#{created[0].pk} recorded (edited)"
                )
    expected = SaleStatus.REVERSED if reversed_events else SaleStatus.COMPLETED
    if sale.status != expected:
        report.problems.append(
            f"{label} is marked {sale.status} but the audit trail records it {expected} (edited)"
        )
    if reversed_events and reversal is None:
        report.problems.append(
            f"{label}: its reversal (audit event #{reversed_events[0].pk}) is missing (deleted)"
        )
    elif reversal is not None and not reversed_events:
        report.problems.append(
            f"{label} has a reversal that the audit trail never recorded (written outside gridvend)"
        )
    elif reversal is not None:
        after = reversed_events[0].after if isinstance(reversed_events[0].after, dict) else {}
        recorded = after.get("digests")
        if isinstance(recorded, dict):
            stored = reversal_binding(reversal, lines.get(reversal.journal_entry_id or 0, []))
            if recorded.get("reversal") != stored["reversal"]:
                report.problems.append(
                    f"{label}: its reversal (reason, refunding shift or journal entry) differs "
                    f"from audit event #{reversed_events[0].pk} (edited)"
                )
            if recorded.get("journal") != stored["journal"]:
                report.problems.append(
                    f"{label}: its reversal's journal postings differ from audit event "
                    f"#{reversed_events[0].pk} (edited)"
                )


def verify_sales(*, batch: int = 1000) -> SalesReport:
    """Compare every sale, token and reversal with the digests in its audit events."""
    report = SalesReport()
    for sales in batches(Sale.objects.all(), batch):
        ids = [s.pk for s in sales]
        tokens: dict[int, list[Token]] = defaultdict(list)
        for token in Token.objects.filter(sale_id__in=ids).order_by("sale_id", "sequence"):
            tokens[token.sale_id].append(token)
        reversals = {r.sale_id: r for r in Reversal.objects.filter(sale_id__in=ids)}
        events = events_for(SALE_TARGET, ids, [*CREATED_EVENT_TYPES, REVERSED_EVENT])
        lines = posted_lines(
            [s.journal_entry_id for s in sales if s.journal_entry_id is not None]
            + [r.journal_entry_id for r in reversals.values() if r.journal_entry_id is not None]
        )
        for sale in sales:
            report.sales += 1
            report.tokens += len(tokens[sale.pk])
            report.reversals += int(sale.pk in reversals)
            _check_sale(
                report, sale, tokens[sale.pk], events[sale.pk], reversals.get(sale.pk), lines
            )
    report_missing(
        report.problems,
        model=Sale,
        target_type=SALE_TARGET,
        event_types=CREATED_EVENT_TYPES,
        prefix="sale ",
        batch=batch,
    )
    return report
