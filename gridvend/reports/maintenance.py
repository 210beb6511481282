"""The maintenance report (issue 13): the fault reports registered in a period, per kind and per
engineer (registered, resolved, still open, past their service-level target, hours to solve) and
one row each (a keyset page at a time on the screen), in the unit the filters name. Targets and
"past them" are the faults screens' own (``gridvend.meters.selectors``: ``sla_hours``,
``is_breached``, ``follow_up_time``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.identity.models import User
from gridvend.meters.models import FaultCategory, FaultReport, FaultStatus
from gridvend.meters.selectors import follow_up_time, is_breached, sla_hours
from gridvend.reports import paging
from gridvend.reports.base import (
    CellKind,
    Column,
    ReportResult,
    ReportRow,
    ReportSpec,
    ReportTable,
    RowRole,
    register,
)
from gridvend.reports.catalogue import _prepare, _result
from gridvend.reports.details import person
from gridvend.reports.filters import ReportFilters, UngroupedFilterSet
from gridvend.reports.paging import DetailTable
from gridvend.reports.permissions import can_read_reports

TITLE = gettext_lazy("Maintenance")
# Faults one report reads at most for its summaries (a year of a large utility's calls).
FAULT_LIMIT = 50_000


class MaintenanceFilterSet(UngroupedFilterSet):
    """The period, the unit and the engineer a fault is assigned to (the "operator" filter):
    faults are not sales, so the sale filters are not offered."""

    point = None  # type: ignore[assignment]
    channel = None  # type: ignore[assignment]
    partner = None  # type: ignore[assignment]
    tariff = None  # type: ignore[assignment]
    sgc = None  # type: ignore[assignment]
    ti = None  # type: ignore[assignment]


def hours(taken: timedelta) -> Decimal:
    return (Decimal(taken.total_seconds()) / 3600).quantize(Decimal("0.1"))


@dataclass
class FaultFigures:
    registered: int = 0
    resolved: int = 0
    breached: int = 0
    solve_seconds: int = 0
    longest_seconds: int = 0

    def add(self, fault: FaultReport, now: datetime) -> None:
        self.registered += 1
        taken = follow_up_time(fault)
        if taken is not None:
            self.resolved += 1
            seconds = int(taken.total_seconds())
            self.solve_seconds += seconds
            self.longest_seconds = max(self.longest_seconds, seconds)
        if is_breached(fault, now):
            self.breached += 1

    def cells(self) -> dict[str, Any]:
        average = (
            hours(timedelta(seconds=self.solve_seconds / self.resolved)) if self.resolved else None
        )
        return {
            "registered": self.registered,
            "resolved": self.resolved,
            "open": self.registered - self.resolved,
            "breached": self.breached,
            "average_hours": "" if average is None else f"{average:f}",
            "longest_hours": f"{hours(timedelta(seconds=self.longest_seconds)):f}"
            if self.resolved
            else "",
        }


def faults_in(f: ReportFilters) -> Any:
    """The fault reports registered in the period on the unit's meters (the operator filter is
    the engineer assigned), oldest first (then by id: the detail table's total order)."""
    q = Q(
        meter__org_unit__path__startswith=f.unit.path,
        registered_at__gte=f.start_utc,
        registered_at__lt=f.end_utc,
    )
    if f.operator is not None:
        q &= Q(assignee_id=f.operator.pk)
    return (
        FaultReport.objects.filter(q)
        .select_related("meter", "meter__customer", "assignee")
        .order_by("registered_at", "id")
    )


def engineer(fault: FaultReport) -> str:
    return person(fault.assignee) or fault.engineer or _("Not assigned")


def _summary_columns(first: str, label: str) -> list[Column]:
    return [
        Column(first, label),
        Column("registered", _("Registered"), CellKind.INT),
        Column("resolved", _("Resolved"), CellKind.INT),
        Column("open", _("Still open"), CellKind.INT),
        Column("breached", _("Past target"), CellKind.INT),
        Column("average_hours", _("Average hours to solve")),
        Column("longest_hours", _("Longest hours to solve")),
    ]


def fault_rows(actor: User, faults: Sequence[FaultReport]) -> list[ReportRow]:
    """A batch of fault reports as rows, "past target" as of now."""
    now = timezone.now()
    kinds = dict(FaultCategory.choices)
    statuses = dict(FaultStatus.choices)
    rows = []
    for fault in faults:
        taken = follow_up_time(fault)
        customer = fault.meter.customer
        rows.append(
            ReportRow(
                {
                    "registered_at": fault.registered_at,
                    "fault": str(fault.pk),
                    "meter": fault.meter.number,
                    "customer": f"{customer.name} ({customer.account_number})" if customer else "",
                    "kind": str(kinds.get(fault.category, fault.category)),
                    "status": str(statuses.get(fault.status, fault.status)),
                    "engineer": engineer(fault),
                    "resolved_at": fault.resolved_at,
                    "hours": "" if taken is None else f"{hours(taken):f}",
                    "breached": _("Yes") if is_breached(fault, now) else _("No"),
                }
            )
        )
    return rows


def _fault_columns() -> list[Column]:
    return [
        Column("registered_at", _("Registered"), CellKind.DATETIME),
        Column("fault", _("Fault")),
        Column("meter", _("Meter")),
        Column("customer", _("Customer")),
        Column("kind", _("Kind")),
        Column("status", _("Status")),
        Column("engineer", _("Engineer")),
        Column("resolved_at", _("Resolved"), CellKind.DATETIME),
        Column("hours", _("Hours to solve")),
        Column("breached", _("Past target")),
    ]


FAULTS = DetailTable(
    key="faults",
    title=gettext_lazy("Fault reports"),
    columns=_fault_columns,
    queryset=lambda f: faults_in(f).order_by(),
    ordering=("registered_at", "id"),
    rows=fault_rows,
)


def build_maintenance(actor: User, values: Mapping[str, Any]) -> ReportResult:
    """Faults per kind and per engineer with their time to solve, and one row per fault."""
    f = _prepare(actor, values, grouped=False)
    now = timezone.now()
    faults = list(faults_in(f)[: FAULT_LIMIT + 1])
    cut = len(faults) > FAULT_LIMIT
    faults = faults[:FAULT_LIMIT]
    kinds = dict(FaultCategory.choices)
    per_kind: dict[str, FaultFigures] = {}
    per_engineer: dict[str, FaultFigures] = {}
    total = FaultFigures()
    for fault in faults:
        per_kind.setdefault(fault.category, FaultFigures()).add(fault, now)
        per_engineer.setdefault(engineer(fault), FaultFigures()).add(fault, now)
        total.add(fault, now)
    total_row = ReportRow({"group": _("Total")} | total.cells(), RowRole.TOTAL)
    by_kind = ReportTable(
        title=_("Faults per kind"),
        columns=[
            *_summary_columns("group", _("Kind")),
            Column("target", _("Target hours"), CellKind.INT),
        ],
        rows=[
            ReportRow(
                {"group": str(kinds.get(kind, kind)), "target": sla_hours(kind)}
                | per_kind[kind].cells()
            )
            for kind in sorted(per_kind, key=lambda k: str(kinds.get(k, k)))
        ]
        + [total_row],
    )
    by_engineer = ReportTable(
        title=_("Faults per engineer"),
        columns=_summary_columns("group", _("Engineer")),
        rows=[
            ReportRow({"group": name} | per_engineer[name].cells()) for name in sorted(per_engineer)
        ]
        + [ReportRow({"group": _("Total")} | total.cells(), RowRole.TOTAL)],
    )
    detail = FAULTS.table("maintenance", f, paging.wanted(values))
    if cut:
        note = _(
            "Only the first %(faults)s fault reports are read: more match. Narrow the period or "
            "the filters."
        ) % {"faults": f"{FAULT_LIMIT:,}"}
        by_kind.truncated_note = by_engineer.truncated_note = note
    notes = [
        _(
            "Faults registered in the period, on the meters of the unit; the operator filter is "
            "the engineer assigned. Hours to solve run from the call to the solution; a fault is "
            "past its target when it was solved after its kind's target hours, or is still open "
            "past them now."
        ),
    ]
    return _result("maintenance", TITLE, f, [by_kind, by_engineer, detail], notes)


register(
    ReportSpec(
        slug="maintenance",
        title=TITLE,
        summary=gettext_lazy(
            "Fault reports per kind and engineer: registered, resolved, open, past target and "
            "hours to solve; one row per fault."
        ),
        filterset=MaintenanceFilterSet,
        build=build_maintenance,
        may_read=can_read_reports,
        details=(FAULTS,),
    )
)
