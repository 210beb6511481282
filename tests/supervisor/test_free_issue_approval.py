"""Free issues above the approval limit: asked for by one person, approved by another."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridvend.kernel.errors import DomainError
from gridvend.meters.models import Meter
from gridvend.vending import services as vending
from gridvend.vending.models import FreeIssueRequest, RequestStatus, Sale, SaleKind
from tests.signin import signed_in
from tests.supervisor.conftest import People
from tests.supervisor.test_screens import _free_issue_data, _post, _state
from tests.world import World

pytestmark = pytest.mark.django_db


def _request_40_kwh(world: World, meter: Meter, reference: str) -> FreeIssueRequest:
    """The supervisor asks for 40 kWh, above the limit, for a complaint."""
    return vending.request_free_issue(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference=reference,
        meter_number=meter.number,
        kwh=Decimal("40"),
        reason="complaint",
    )


def test_service_refuses_a_large_free_issue_without_approval(world: World) -> None:
    meter = world.add_meter()
    before = _state()
    with pytest.raises(DomainError) as err:
        vending.issue_free_credit(
            actor=world.supervisor,
            vending_point=world.point,
            client_reference="big",
            meter_number=meter.number,
            kwh=Decimal("75"),
            reason="long outage",
        )
    assert err.value.code == "FREE_ISSUE_NEEDS_APPROVAL"
    assert _state() == before


def test_large_free_issue_is_requested_then_approved_by_someone_else(
    world: World, people: People
) -> None:
    meter = world.add_meter()
    url = "/supervisor/free-issue/"
    data = {**_free_issue_data(world, meter, world.point, "c" * 32), "kwh": "75"}
    body = _post(world.supervisor, url, data, 200)
    assert "second person" in body
    request = FreeIssueRequest.objects.get()
    assert request.status == RequestStatus.PENDING and request.kwh == Decimal("75")
    assert not Sale.objects.filter(kind=SaleKind.FREE_ISSUE).exists()
    # The requester sees it waiting; they cannot approve it themselves.
    own = signed_in(world.supervisor).get("/supervisor/").content.decode()
    assert f'id="free-issue-{request.pk}"' in own and "Waiting for another approver" in own
    with pytest.raises(DomainError) as err:
        vending.approve_free_issue(actor=world.supervisor, request=request)
    assert err.value.code == "MAKER_CHECKER_VIOLATION"
    # A colleague without finance cannot decide either.
    _post(people.care_operator, f"/supervisor/free-issue-requests/{request.pk}/approve/", {}, 403)
    response = signed_in(people.approver).post(
        f"/supervisor/free-issue-requests/{request.pk}/approve/", {"note": "agreed"}
    )
    assert response.status_code == 302
    # The approver is shown the tokens and the receipt, not just a sale reference.
    assert response["Location"] == f"/supervisor/free-issue-requests/{request.pk}/"
    shown = signed_in(people.approver).get(response["Location"]).content.decode()
    request.refresh_from_db()
    assert request.sale is not None
    for token in request.sale.tokens.all():
        assert token.grouped in shown
    assert f"/receipts/{request.sale.reference}/thermal/" in shown
    assert request.status == RequestStatus.APPROVED and request.decided_by == people.approver
    sale = request.sale
    assert (
        sale is not None and sale.kind == SaleKind.FREE_ISSUE and sale.operator == people.approver
    )
    sim = world.simulator(meter)
    assert all(sim.enter(t.digits).accepted for t in sale.tokens.all())
    assert sim.credit() == Decimal("75.0")


def test_rejected_free_issue_issues_nothing(world: World, people: People) -> None:
    meter = world.add_meter()
    request = _request_40_kwh(world, meter, "r1")
    again = _request_40_kwh(world, meter, "r1")
    assert again.pk == request.pk
    response = signed_in(people.approver).post(
        f"/supervisor/free-issue-requests/{request.pk}/reject/", {"note": "not eligible"}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED and request.decision_note == "not eligible"
    assert not Sale.objects.filter(kind=SaleKind.FREE_ISSUE).exists()


def test_other_regions_request_is_not_found(world: World, people: People) -> None:
    meter = world.add_meter()
    request = _request_40_kwh(world, meter, "r2")
    _post(people.south, f"/supervisor/free-issue-requests/{request.pk}/approve/", {}, 404)
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_small_free_issues_adding_up_above_the_limit_become_a_request(world: World) -> None:
    meter = world.add_meter()
    url = "/supervisor/free-issue/"
    first = {**_free_issue_data(world, meter, world.point, "d" * 32), "kwh": "15"}
    body = _post(world.supervisor, url, first, 200)
    assert "second person" not in body
    assert Sale.objects.filter(kind=SaleKind.FREE_ISSUE).count() == 1
    second = {**first, "client_reference": "e" * 32}
    body = _post(world.supervisor, url, second, 200)
    assert "second person" in body and "24 hours" in body
    assert Sale.objects.filter(kind=SaleKind.FREE_ISSUE).count() == 1
    request = FreeIssueRequest.objects.get()
    assert request.status == RequestStatus.PENDING and request.kwh == Decimal("15")
