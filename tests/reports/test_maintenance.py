"""The maintenance report: fault reports per kind and per engineer, with hours to solve and those
past their target, checked against the fault rows made through the faults services and the
targets set here; one row per fault; a business unit's manager never sees another unit's faults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Capability, Role
from gridvend.meters import faults
from gridvend.meters.models import FaultReport
from gridvend.reports.base import REPORTS, RowRole
from gridvend.reports.filters import ReportFilterSet, today
from tests import factories
from tests.reports.support import ZONE, Scene, scene

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _targets(settings: Any) -> None:
    settings.TIME_ZONE = ZONE
    # No supply must be solved at once (so every one is past it); the rest within a week.
    settings.FAULT_SLA_HOURS = {
        "no_supply": 0,
        "meter_tamper": 168,
        "token_rejected": 168,
        "display_fault": 168,
        "keypad_fault": 168,
        "other": 168,
    }


def build(actor: Any, **query: Any) -> Any:
    values = ReportFilterSet({k: str(v) for k, v in query.items()}).values()
    return REPORTS["maintenance"].build(actor, values)


def table(result: Any, index: int) -> dict[str, dict[str, Any]]:
    return {
        str(r.cells["group"]): dict(r.cells)
        for r in result.tables[index].rows
        if r.role == RowRole.DETAIL
    }


def _faults(s: Scene) -> dict[str, Any]:
    w = s.world
    first = factories.user(w.tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    second = factories.user(w.tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    south_agent = factories.user(w.tree.south_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    out = faults.register_fault(
        actor=w.supervisor, meter=s.north_meter, description="no power", category="no_supply"
    )
    faults.assign_fault(actor=w.supervisor, fault=out, assignee=first)
    faults.resolve_fault(actor=first, fault=out, solution="fuse replaced")
    faults.register_fault(
        actor=w.supervisor, meter=s.north_meter, description="no power again", category="no_supply"
    )
    display = faults.register_fault(
        actor=w.supervisor, meter=s.north_meter_2, description="blank", category="display_fault"
    )
    faults.assign_fault(actor=w.supervisor, fault=display, assignee=second)
    faults.resolve_fault(actor=second, fault=display, solution="display replaced")
    faults.register_fault(actor=south_agent, meter=s.south_meter, description="south call")
    return {"first": first, "second": second}


def test_faults_per_kind_and_engineer_with_hours_to_solve_and_past_target() -> None:
    s = scene()
    people = _faults(s)
    day = today().isoformat()
    result = build(s.world.admin, date_from=day, date_to=day)
    kinds = table(result, 0)
    assert set(kinds) == {"No supply", "Display fault", "Other"}
    assert (kinds["No supply"]["registered"], kinds["No supply"]["resolved"]) == (2, 1)
    assert (kinds["No supply"]["open"], kinds["No supply"]["breached"]) == (1, 2)
    assert kinds["No supply"]["target"] == 0
    assert (kinds["Display fault"]["resolved"], kinds["Display fault"]["breached"]) == (1, 0)
    # Independently from the rows: hours from registration to solution.
    fixed = FaultReport.objects.get(description="no power")
    assert fixed.resolved_at is not None
    taken = Decimal((fixed.resolved_at - fixed.registered_at).total_seconds()) / 3600
    assert kinds["No supply"]["average_hours"] == f"{taken.quantize(Decimal('0.1')):f}"
    engineers = table(result, 1)
    assert engineers[people["first"].username]["resolved"] == 1
    assert engineers[people["second"].username]["resolved"] == 1
    assert engineers["Not assigned"]["registered"] == 2
    total = result.tables[0].rows[-1]
    assert total.role == RowRole.TOTAL and total.cells["registered"] == 4
    detail = [r.cells for r in result.tables[2].rows if r.role == RowRole.DETAIL]
    assert [r["meter"] for r in detail] == [
        s.north_meter.number,
        s.north_meter.number,
        s.north_meter_2.number,
        s.south_meter.number,
    ]
    assert detail[0]["engineer"] == people["first"].username
    assert detail[1]["resolved_at"] is None and detail[1]["breached"] == "Yes"
    assert detail[2]["breached"] == "No"


def test_the_operator_filter_is_the_engineer_and_another_day_is_empty() -> None:
    s = scene()
    people = _faults(s)
    day = today().isoformat()
    result = build(s.world.admin, date_from=day, date_to=day, operator=people["second"].pk)
    assert set(table(result, 0)) == {"Display fault"}
    other = build(s.world.admin, date_from="2026-03-01", date_to="2026-03-31")
    assert table(other, 0) == {}
    assert other.tables[0].rows[-1].cells["registered"] == 0


def test_a_business_unit_manager_never_sees_another_units_faults() -> None:
    s = scene()
    _faults(s)
    tree = s.world.tree
    manager = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER, ())
    day = today().isoformat()
    result = build(manager, date_from=day, date_to=day)
    meters = {r.cells["meter"] for r in result.tables[2].rows if r.role == RowRole.DETAIL}
    assert s.south_meter.number not in meters
    assert result.tables[0].rows[-1].cells["registered"] == 3
    with pytest.raises(NotFound):
        build(manager, unit=tree.south.pk)
