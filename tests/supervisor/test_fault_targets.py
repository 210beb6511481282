"""Fault categories, service-level targets per category, the filtered list, and the move from
free-text engineers to assigned field agents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.configuration import ConfigurationError, environment
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.meters import faults
from gridvend.meters import selectors as meter_selectors
from gridvend.meters.models import FaultCategory, FaultReport, FaultStatus, Meter
from tests import factories
from tests.signin import signed_in
from tests.supervisor.conftest import People
from tests.world import World

pytestmark = pytest.mark.django_db


def _fault(world: World, category: str = "no_supply", meter: Meter | None = None) -> FaultReport:
    return faults.register_fault(
        actor=world.supervisor,
        meter=meter or world.add_meter(),
        description="no lights",
        category=category,
    )


def _age(fault: FaultReport, hours: float) -> FaultReport:
    """Test data only: move the call ``hours`` into the past."""
    FaultReport.objects.filter(pk=fault.pk).update(
        registered_at=timezone.now() - timedelta(hours=hours)
    )
    fault.refresh_from_db()
    return fault


def test_the_category_is_stored_and_checked(world: World) -> None:
    fault = _fault(world, "token_rejected")
    assert fault.category == FaultCategory.TOKEN_REJECTED
    event = AuditEvent.objects.order_by("-id").first()
    assert event is not None and (event.after or {})["category"] == "token_rejected"
    before = FaultReport.objects.count()
    with pytest.raises(DomainError) as refused:
        _fault(world, "gremlins")
    assert refused.value.code == "CATEGORY_INVALID"
    assert FaultReport.objects.count() == before


def test_the_target_depends_on_the_category_and_a_setting(world: World) -> None:
    assert meter_selectors.sla_hours("no_supply") == 24
    assert meter_selectors.sla_hours("other") == 120
    with override_settings(FAULT_SLA_HOURS={**settings.FAULT_SLA_HOURS, "no_supply": 4}):
        fault = _age(_fault(world), 5)
        assert meter_selectors.sla_hours("no_supply") == 4
        assert meter_selectors.is_breached(fault)
    assert not meter_selectors.is_breached(fault)
    assert meter_selectors.due_at(fault) == fault.registered_at + timedelta(hours=24)


def test_breaches_of_open_and_resolved_faults(world: World, people: People) -> None:
    late_open = _age(_fault(world), 30)
    on_time_open = _age(_fault(world, "other"), 30)
    late_resolved = _age(_fault(world), 50)
    faults.assign_fault(actor=world.supervisor, fault=late_resolved, assignee=people.field_agent)
    faults.resolve_fault(actor=world.supervisor, fault=late_resolved, solution="fuse")
    late_resolved.refresh_from_db()
    quick = _fault(world)
    faults.assign_fault(actor=world.supervisor, fault=quick, assignee=people.field_agent)
    faults.resolve_fault(actor=world.supervisor, fault=quick, solution="reset")
    quick.refresh_from_db()
    assert meter_selectors.is_breached(late_open) and meter_selectors.is_breached(late_resolved)
    assert not meter_selectors.is_breached(on_time_open) and not meter_selectors.is_breached(quick)
    # The SQL filter agrees with the Python rule.
    found = set(meter_selectors.list_faults(world.supervisor, breached=True))
    assert found == {late_open, late_resolved}


def test_the_list_is_by_status_then_age(world: World, people: People) -> None:
    resolved = _age(_fault(world), 80)
    faults.assign_fault(actor=world.supervisor, fault=resolved, assignee=people.field_agent)
    faults.resolve_fault(actor=world.supervisor, fault=resolved, solution="done")
    assigned = _age(_fault(world), 60)
    faults.assign_fault(actor=world.supervisor, fault=assigned, assignee=people.field_agent)
    young = _age(_fault(world), 1)
    old = _age(_fault(world), 10)
    assert list(meter_selectors.list_faults(world.supervisor)) == [old, young, assigned, resolved]


def _listing(user: Any, query: str = "") -> tuple[int, str]:
    response = signed_in(user).get(f"/supervisor/faults/{query}")
    return response.status_code, response.content.decode()


def test_the_list_filters_by_status_category_assignee_age_and_breach(
    world: World, people: People
) -> None:
    supply = _age(_fault(world, "no_supply"), 30)
    keypad = _age(_fault(world, "keypad_fault"), 2)
    faults.assign_fault(actor=world.supervisor, fault=keypad, assignee=people.field_agent)

    def rows(query: str) -> set[int]:
        status, body = _listing(world.supervisor, query)
        assert status == 200, body[:500]
        return {f.pk for f in (supply, keypad) if f'id="fault-{f.pk}"' in body}

    assert rows("") == {supply.pk, keypad.pk}
    assert rows("?status=assigned") == {keypad.pk}
    assert rows("?category=no_supply") == {supply.pk}
    assert rows(f"?assignee={people.field_agent.pk}") == {keypad.pk}
    assert rows("?assignee=none") == {supply.pk}
    assert rows("?age=1d") == {supply.pk}
    assert rows("?breached=1") == {supply.pk}
    _status, body = _listing(world.supervisor, "?breached=1")
    assert 'class="table-danger"' in body and "overdue" in body


@pytest.mark.parametrize(
    "query", ["?assignee=999999", "?age=2d", "?category=gremlins", "?breached=yes"]
)
def test_a_bad_filter_is_refused_with_400(world: World, query: str) -> None:
    status, _body = _listing(world.supervisor, query)
    assert status == 400


def test_the_assignee_filter_offers_only_field_agents_of_the_area(
    world: World, people: People
) -> None:
    _status, body = _listing(world.supervisor)
    assert f'<option value="{people.field_agent.pk}">' in body
    assert f'<option value="{people.south.pk}">' not in body
    assert f'<option value="{people.care_operator.pk}">' not in body


def test_a_manager_changes_the_category(world: World, people: People) -> None:
    fault = _fault(world, "other")
    url = f"/supervisor/faults/{fault.pk}/"
    data = {"action": "categorise", "category": "meter_tamper"}
    assert signed_in(people.field_agent).post(url, data).status_code == 403
    assert signed_in(people.south).post(url, data).status_code == 404
    bad = signed_in(world.supervisor).post(url, {**data, "category": "x"})
    assert "Select a valid choice." in bad.content.decode()
    response = signed_in(world.supervisor).post(url, data)
    assert response.status_code == 302
    fault.refresh_from_db()
    assert fault.category == "meter_tamper"
    event = AuditEvent.objects.order_by("-id").first()
    assert event is not None and event.event_type == "fault.recategorised"
    changed = ((event.before or {})["category"], (event.after or {})["category"])
    assert changed == ("other", "meter_tamper")


def _migrate_engineers() -> None:
    module = __import__(
        "gridvend.meters.migrations.0004_fault_assignee_from_engineer", fromlist=["x"]
    )
    module.assign_named_engineers(apps, None)


def test_typed_engineer_names_become_field_agents_where_unambiguous(
    world: World, people: People
) -> None:
    # A second field agent of the same name ("Test User") in the area makes that name ambiguous.
    factories.user(world.tree.north, Role.OPERATOR, (Capability.FIELD_AGENT,))
    named = _fault(world)
    ambiguous = _fault(world)
    not_an_agent = _fault(world)
    unknown = _fault(world)
    texts = {
        named.pk: people.field_agent.username.upper(),
        ambiguous.pk: "test user",
        not_an_agent.pk: people.care_operator.username,
        unknown.pk: "Otieno",
    }
    for pk, text in texts.items():
        FaultReport.objects.filter(pk=pk).update(engineer=text, status=FaultStatus.ASSIGNED)
    _migrate_engineers()
    stored = {f.pk: f for f in FaultReport.objects.all()}
    assert stored[named.pk].assignee == people.field_agent
    assert all(stored[pk].assignee is None for pk in (ambiguous.pk, not_an_agent.pk, unknown.pk))
    assert {pk: stored[pk].engineer for pk in texts} == texts
    body = signed_in(world.supervisor).get(f"/supervisor/faults/{unknown.pk}/").content.decode()
    assert "Engineer named before" in body and "Otieno" in body


def test_the_targets_setting_is_read_and_checked() -> None:
    default = {"no_supply": 24, "other": 120}
    env = environment({"GRIDVEND_FAULT_SLA_HOURS": "no_supply=6, other = 48"})
    assert env.get_int_map("GRIDVEND_FAULT_SLA_HOURS", default, minimum=1) == {
        "no_supply": 6,
        "other": 48,
    }
    for bad in ("gremlins=4", "no_supply", "no_supply=x", "no_supply=0"):
        with pytest.raises(ConfigurationError):
            environment({"GRIDVEND_FAULT_SLA_HOURS": bad}).get_int_map(
                "GRIDVEND_FAULT_SLA_HOURS", default, minimum=1
            )
    from django.conf import settings

    assert set(settings.FAULT_SLA_HOURS) == set(FaultCategory.values)
