"""The fault page's follow-up steps in the back office: changing the status along the flow and
writing engineers' notes (internal or for the customer), by those who follow faults up in their
subtree; everyone else is refused and nothing changes."""

from __future__ import annotations

import pytest

from gridvend.meters import faults
from gridvend.meters.models import FaultNote, FaultReport, FaultStatus
from tests.signin import signed_in
from tests.supervisor.conftest import People
from tests.world import World, snapshot

pytestmark = pytest.mark.django_db


def _fault(world: World) -> FaultReport:
    return faults.register_fault(
        actor=world.supervisor, meter=world.add_meter(), description="display blank"
    )


def test_the_supervisor_acknowledges_and_notes_a_fault_on_its_page(world: World) -> None:
    fault = _fault(world)
    client = signed_in(world.supervisor)
    page = client.get(f"/supervisor/faults/{fault.pk}/").content.decode()
    assert 'name="action" value="status"' in page and 'value="acknowledged"' in page
    assert 'value="in_progress"' not in page  # nobody is assigned yet
    answer = client.post(
        f"/supervisor/faults/{fault.pk}/", {"action": "status", "status": "acknowledged"}
    )
    assert answer.status_code == 302
    fault.refresh_from_db()
    assert fault.status == FaultStatus.ACKNOWLEDGED
    client.post(
        f"/supervisor/faults/{fault.pk}/",
        {"action": "note", "text": "Call the customer first.", "is_public": ""},
    )
    client.post(
        f"/supervisor/faults/{fault.pk}/",
        {"action": "note", "text": "A crew comes tomorrow.", "is_public": "on"},
    )
    notes = list(FaultNote.objects.filter(fault=fault).values_list("text", "is_public"))
    assert notes == [("Call the customer first.", False), ("A crew comes tomorrow.", True)]
    page = client.get(f"/supervisor/faults/{fault.pk}/").content.decode()
    assert 'id="fault-notes"' in page and "Customer sees this" in page and "Internal" in page


def test_a_field_agent_starts_the_work_on_a_fault_assigned_to_them(
    world: World, people: People
) -> None:
    fault = _fault(world)
    faults.assign_fault(actor=world.supervisor, fault=fault, assignee=people.field_agent)
    client = signed_in(people.field_agent)
    answer = client.post(
        f"/supervisor/faults/{fault.pk}/", {"action": "status", "status": "in_progress"}
    )
    assert answer.status_code == 302
    fault.refresh_from_db()
    assert fault.status == FaultStatus.IN_PROGRESS
    # Resolving starts from in progress as from assigned.
    client.post(f"/supervisor/faults/{fault.pk}/", {"action": "resolve", "solution": "New fuse"})
    fault.refresh_from_db()
    assert fault.status == FaultStatus.RESOLVED


def test_a_status_the_flow_does_not_allow_is_refused_on_the_page(world: World) -> None:
    fault = _fault(world)
    before = snapshot()
    for status in ("closed", "in_progress", "resolved", "open", "zap", ""):
        answer = signed_in(world.supervisor).post(
            f"/supervisor/faults/{fault.pk}/", {"action": "status", "status": status}
        )
        # The page answers as for its other refused forms: drawn again with the reason.
        assert answer.status_code == 200, status
        assert "text-danger" in answer.content.decode(), status
    answer = signed_in(world.supervisor).post(
        f"/supervisor/faults/{fault.pk}/", {"action": "note", "text": "x" * 2001}
    )
    assert answer.status_code == 200
    assert snapshot() == before


def test_outside_the_subtree_or_without_the_capability_nothing_changes(
    world: World, people: People
) -> None:
    fault = _fault(world)
    before = snapshot()
    url = f"/supervisor/faults/{fault.pk}/"
    south = signed_in(people.south)
    assert south.get(url).status_code == 404
    assert south.post(url, {"action": "note", "text": "hi", "is_public": "on"}).status_code == 404
    assert south.post(url, {"action": "status", "status": "rejected"}).status_code == 404
    auditor = signed_in(people.auditor)
    assert auditor.post(url, {"action": "note", "text": "hi"}).status_code == 403
    assert auditor.post(url, {"action": "status", "status": "rejected"}).status_code == 403
    cashier = signed_in(world.cashier)
    assert cashier.post(url, {"action": "note", "text": "hi"}).status_code == 403
    assert snapshot() == before


def test_the_list_filters_reports_sent_from_the_portal(world: World) -> None:
    called = _fault(world)
    page = signed_in(world.supervisor).get("/supervisor/faults/?reported_via=portal")
    assert page.status_code == 200
    assert f"/supervisor/faults/{called.pk}/" not in page.content.decode()
    page = signed_in(world.supervisor).get("/supervisor/faults/?reported_via=call")
    assert f"/supervisor/faults/{called.pk}/" in page.content.decode()
