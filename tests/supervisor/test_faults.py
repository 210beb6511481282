"""Fault reports: each transition is audited, each refusal has a stable code and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.meters import faults
from gridvend.meters import selectors as meter_selectors
from gridvend.meters import services as meters
from gridvend.meters.models import FaultReport, FaultStatus, Meter
from tests import factories
from tests.supervisor.conftest import People
from tests.world import World

pytestmark = pytest.mark.django_db


def _state() -> tuple[Any, ...]:
    return (
        AuditEvent.objects.count(),
        tuple(
            FaultReport.objects.order_by("pk").values_list(
                "status",
                "category",
                "assignee",
                "engineer",
                "assigned_at",
                "solution",
                "resolved_at",
                "resolved_by",
            )
        ),
    )


def _refused(code: str, call: Callable[[], object]) -> None:
    before = _state()
    with pytest.raises(DomainError) as err:
        call()
    assert err.value.code == code, err.value
    assert err.value.message
    assert _state() == before


def _register(world: World, meter: Meter, **kw: Any) -> FaultReport:
    return faults.register_fault(
        actor=kw.pop("actor", world.supervisor),
        meter=meter,
        description=kw.pop("description", "display blank after storm"),
        reporter_name="Amina",
        reporter_phone="+254700000001",
        **kw,
    )


def test_register_records_the_call_and_an_audit_event(world: World) -> None:
    meter = world.add_meter()
    fault = _register(world, meter)
    assert fault.status == FaultStatus.OPEN
    assert (fault.reporter_name, fault.reporter_phone) == ("Amina", "+254700000001")
    assert fault.registered_by == world.supervisor
    event = AuditEvent.objects.order_by("-id").first()
    assert event is not None and event.event_type == "fault.registered"
    assert event.org_path == meter.org_unit.path


def test_field_agent_registers_too(world: World, people: People) -> None:
    fault = _register(world, world.add_meter(), actor=people.field_agent, reported_via="field")
    assert fault.reported_via == "field"


def test_assign_then_reassign_then_resolve(world: World, people: People) -> None:
    fault = _register(world, world.add_meter())
    other = factories.user(world.tree.north, Role.OPERATOR, (Capability.FIELD_AGENT,))
    fault = faults.assign_fault(actor=world.supervisor, fault=fault, assignee=people.field_agent)
    assert fault.status == FaultStatus.ASSIGNED and fault.assignee == people.field_agent
    assert fault.assigned_at is not None
    fault = faults.assign_fault(actor=world.supervisor, fault=fault, assignee=other)
    assert fault.assignee == other
    fault = faults.resolve_fault(actor=people.field_agent, fault=fault, solution="replaced fuse")
    stored = FaultReport.objects.get(pk=fault.pk)
    assert stored.status == FaultStatus.RESOLVED
    assert stored.solution == "replaced fuse" and stored.resolved_by == people.field_agent
    assert stored.resolved_at is not None
    assert meter_selectors.follow_up_time(stored) == stored.resolved_at - stored.registered_at
    types = list(AuditEvent.objects.order_by("-id").values_list("event_type", flat=True)[:3])
    assert types == ["fault.resolved", "fault.assigned", "fault.assigned"]


def test_a_manager_resolves_as_the_engineers_supervisor(world: World, people: People) -> None:
    fault = _register(world, world.add_meter())
    faults.assign_fault(actor=world.supervisor, fault=fault, assignee=people.field_agent)
    resolved = faults.resolve_fault(actor=world.supervisor, fault=fault, solution="reset")
    assert resolved.status == FaultStatus.RESOLVED


def test_follow_up_time_is_none_while_open(world: World) -> None:
    fault = _register(world, world.add_meter())
    assert meter_selectors.follow_up_time(fault) is None
    fault.resolved_at = fault.registered_at + timedelta(hours=3)
    assert meter_selectors.follow_up_time(fault) == timedelta(hours=3)


def test_register_refusals(world: World, people: People) -> None:
    meter = world.add_meter()
    south_meter = world.add_meter(unit=world.tree.south_sc)
    _refused("PERMISSION_DENIED", lambda: _register(world, meter, actor=world.cashier))
    _refused("PERMISSION_DENIED", lambda: _register(world, meter, actor=people.ms_manager))
    _refused("NOT_FOUND", lambda: _register(world, south_meter))
    _refused("DESCRIPTION_REQUIRED", lambda: _register(world, meter, description="  "))
    _refused("REPORTED_VIA_INVALID", lambda: _register(world, meter, reported_via="pigeon"))
    meters.retire_meter(actor=world.admin, meter=meter, reason="removed")
    _refused("METER_RETIRED", lambda: _register(world, meter))


def test_assign_refusals(world: World, people: People) -> None:
    fault = _register(world, world.add_meter())
    south_fault = _register(world, world.add_meter(unit=world.tree.south_sc), actor=world.admin)
    agent = people.field_agent
    _refused(
        "PERMISSION_DENIED",
        lambda: faults.assign_fault(actor=agent, fault=fault, assignee=agent),
    )
    _refused(
        "NOT_FOUND",
        lambda: faults.assign_fault(actor=world.supervisor, fault=south_fault, assignee=agent),
    )
    # A user who is not a field agent, one outside the assigner's area, one who cannot reach
    # the meter, and one who left.
    _refused(
        "ASSIGNEE_NOT_FIELD_AGENT",
        lambda: faults.assign_fault(
            actor=world.supervisor, fault=fault, assignee=people.care_operator
        ),
    )
    south_agent = factories.user(world.tree.south_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    _refused(
        "NOT_FOUND",
        lambda: faults.assign_fault(actor=world.supervisor, fault=fault, assignee=south_agent),
    )
    sibling = factories.unit(world.tree.north_bu, "North SC 2")
    far_agent = factories.user(sibling, Role.OPERATOR, (Capability.FIELD_AGENT,))
    _refused(
        "ASSIGNEE_OUT_OF_AREA",
        lambda: faults.assign_fault(actor=world.supervisor, fault=fault, assignee=far_agent),
    )
    gone = factories.user(world.tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    User.objects.filter(pk=gone.pk).update(is_active=False)
    gone.refresh_from_db()
    _refused(
        "ASSIGNEE_NOT_FIELD_AGENT",
        lambda: faults.assign_fault(actor=world.supervisor, fault=fault, assignee=gone),
    )
    assert set(meter_selectors.assignable_users(world.supervisor, fault.meter)) == {agent}
    faults.assign_fault(actor=world.supervisor, fault=fault, assignee=agent)
    faults.resolve_fault(actor=world.supervisor, fault=fault, solution="done")
    _refused(
        "FAULT_STATE_INVALID",
        lambda: faults.assign_fault(actor=world.supervisor, fault=fault, assignee=agent),
    )


def test_resolve_refusals(world: World, people: People) -> None:
    fault = _register(world, world.add_meter())
    _refused(
        "FAULT_STATE_INVALID",
        lambda: faults.resolve_fault(actor=world.supervisor, fault=fault, solution="too early"),
    )
    faults.assign_fault(actor=world.supervisor, fault=fault, assignee=people.field_agent)
    _refused(
        "PERMISSION_DENIED",
        lambda: faults.resolve_fault(actor=people.care_operator, fault=fault, solution="x"),
    )
    _refused(
        "NOT_FOUND",
        lambda: faults.resolve_fault(actor=people.south, fault=fault, solution="x"),
    )
    _refused(
        "SOLUTION_REQUIRED",
        lambda: faults.resolve_fault(actor=world.supervisor, fault=fault, solution=""),
    )
    faults.resolve_fault(actor=world.supervisor, fault=fault, solution="fixed")
    _refused(
        "FAULT_STATE_INVALID",
        lambda: faults.resolve_fault(actor=people.field_agent, fault=fault, solution="again"),
    )


def test_selectors_are_scoped(world: World, people: People) -> None:
    north = _register(world, world.add_meter())
    south = _register(world, world.add_meter(unit=world.tree.south_sc), actor=world.admin)
    assert list(meter_selectors.list_faults(world.supervisor)) == [north]
    assert set(meter_selectors.list_faults(world.admin)) == {north, south}
    assert list(meter_selectors.list_faults(world.supervisor, status=FaultStatus.RESOLVED)) == []
    assert list(meter_selectors.list_faults(world.supervisor, meter=north.meter)) == [north]
    assert meter_selectors.get_fault(world.supervisor, north.pk) == north
    with pytest.raises(NotFound):
        meter_selectors.get_fault(world.supervisor, south.pk)
    with pytest.raises(NotFound):
        meter_selectors.get_fault(people.south, north.pk)


def test_registered_at_is_now(world: World) -> None:
    before = timezone.now()
    fault = _register(world, world.add_meter())
    assert before <= fault.registered_at <= timezone.now()
