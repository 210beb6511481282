"""Every supervisor screen and POST: anonymous, without the capability or role, outside the region,
and allowed, with the effect checked; denied attempts change nothing."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.ledger.models import JournalEntry
from gridvend.meters import faults
from gridvend.meters import services as meters
from gridvend.meters.models import FaultReport, FaultStatus, KeyChange, Meter, MeterStatus
from gridvend.org.models import VendingPoint
from gridvend.vending import services as vending
from gridvend.vending.models import (
    RequestStatus,
    Reversal,
    ReversalRequest,
    Sale,
    SaleKind,
    SaleStatus,
    Token,
)
from tests import factories
from tests.signin import signed_in
from tests.supervisor.conftest import People
from tests.world import World

pytestmark = pytest.mark.django_db


# --- helpers -----------------------------------------------------------------------------------


def _state() -> tuple[Any, ...]:
    """Everything a supervisor action could write."""
    return (
        AuditEvent.objects.count(),
        Sale.objects.count(),
        Token.objects.count(),
        JournalEntry.objects.count(),
        Reversal.objects.count(),
        tuple(Sale.objects.order_by("pk").values_list("status", flat=True)),
        tuple(ReversalRequest.objects.order_by("pk").values_list("status", "decision_note")),
        tuple(Meter.objects.order_by("pk").values_list("status", "block_reason", "last_tid")),
        KeyChange.objects.count(),
        tuple(
            FaultReport.objects.order_by("pk").values_list(
                "status", "category", "assignee", "solution"
            )
        ),
    )


def _sell(world: World, meter: Meter, ref: str) -> Sale:
    # The system clock: the screens decide reversals against the real time too.
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money("500.00"),
    ).sale


def _request(world: World, sale: Sale, actor: User | None = None) -> ReversalRequest:
    return vending.request_reversal(
        actor=actor or world.cashier, sale=sale, reason="wrong meter typed"
    )


def _anonymous_is_sent_to_sign_in(
    method: str, url: str, data: dict[str, Any] | None = None
) -> None:
    before = _state()
    client = Client()
    response = client.post(url, data or {}) if method == "post" else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert _state() == before


def _post(user: User, url: str, data: dict[str, Any], status: int) -> str:
    """POST as the user, expect the status; a refused POST leaves every row as it was."""
    before = _state()
    response = signed_in(user).post(url, data)
    assert response.status_code == status, response.content.decode()[:2000]
    if status in (403, 404):
        assert _state() == before
    return response.content.decode()


def _tokens(body: str) -> list[str]:
    """The tokens a page shows, in groups of four inside a left-to-right isolate."""
    groups = re.findall(r'<bdi dir="ltr" class="token[^"]*">([0-9 ]+)</bdi>', body)
    for grouped in groups:
        assert re.fullmatch(r"\d{4}( \d{4}){4}", grouped), grouped
    return [g.replace(" ", "") for g in groups]


def _client_reference(body: str) -> str:
    match = re.search(r'name="client_reference" value="([0-9a-f]{32})"', body)
    assert match is not None
    return match.group(1)


@pytest.fixture
def south_point(world: World) -> VendingPoint:
    return factories.vending_point(world.tree.south_sc)


# --- dashboard and reversal decisions ----------------------------------------------------------


def test_dashboard_lists_pending_requests_with_buttons_for_another_approver(
    world: World, people: People
) -> None:
    meter = world.add_meter()
    sale = _sell(world, meter, "d1")
    request = _request(world, sale)
    body = signed_in(people.approver).get("/supervisor/").content.decode()
    assert sale.reference in body and meter.number in body
    assert "500.00" in body and "wrong meter typed" in body
    assert world.cashier.username in body
    assert f"/supervisor/reversals/{request.pk}/approve/" in body
    assert f"/supervisor/reversals/{request.pk}/reject/" in body


def test_dashboard_shows_the_requester_that_someone_else_decides(
    world: World, people: People
) -> None:
    sale = _sell(world, world.add_meter(), "d2")
    request = _request(world, sale, actor=world.supervisor)
    body = signed_in(world.supervisor).get("/supervisor/").content.decode()
    assert sale.reference in body
    assert "Waiting for another approver" in body
    assert f"/supervisor/reversals/{request.pk}/approve/" not in body


def test_dashboard_shows_requests_only_to_finance_and_only_in_scope(
    world: World, people: People
) -> None:
    sale = _sell(world, world.add_meter(), "d3")
    _request(world, sale)
    cashier_view = signed_in(world.cashier).get("/supervisor/").content.decode()
    assert sale.reference not in cashier_view
    south_view = signed_in(people.south).get("/supervisor/").content.decode()
    assert sale.reference not in south_view
    assert "No reversal is waiting for approval." in south_view


def test_approve_matrix_and_effect(world: World, people: People) -> None:
    sale = _sell(world, world.add_meter(), "a1")
    request = _request(world, sale)
    url = f"/supervisor/reversals/{request.pk}/approve/"
    _anonymous_is_sent_to_sign_in("post", url)
    _post(world.cashier, url, {}, 403)  # a cashier without finance
    _post(people.south, url, {}, 404)  # finance, but another region
    journal_before = JournalEntry.objects.count()
    response = signed_in(people.approver).post(url, {"note": "checked the till"}, follow=True)
    assert response.status_code == 200
    assert f"Sale {sale.reference} reversed." in response.content.decode()
    sale.refresh_from_db()
    assert sale.status == SaleStatus.REVERSED
    reversal = Reversal.objects.get(sale=sale)
    assert reversal.journal_entry is not None and reversal.reversed_by == people.approver
    assert JournalEntry.objects.count() == journal_before + 1
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED and request.decided_by == people.approver
    assert request.decision_note == "checked the till"
    events = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {"sale.reversed", "reversal.approved"} <= events


def test_the_requester_cannot_approve_their_own_request(world: World, people: People) -> None:
    sale = _sell(world, world.add_meter(), "a2")
    request = _request(world, sale, actor=world.supervisor)
    before = _state()
    response = signed_in(world.supervisor).post(
        f"/supervisor/reversals/{request.pk}/approve/", follow=True
    )
    assert response.status_code == 200
    assert "Someone other than the requester must decide this reversal." in (
        response.content.decode()
    )
    assert _state() == before


def test_a_decided_request_is_not_decided_again(world: World, people: People) -> None:
    sale = _sell(world, world.add_meter(), "a3")
    request = _request(world, sale)
    vending.reject_reversal(actor=people.approver, request=request, note="no")
    before = _state()
    response = signed_in(world.supervisor).post(
        f"/supervisor/reversals/{request.pk}/approve/", follow=True
    )
    assert "This request has already been decided." in response.content.decode()
    assert _state() == before


def test_reject_matrix_and_effect(world: World, people: People) -> None:
    sale = _sell(world, world.add_meter(), "r1")
    request = _request(world, sale)
    url = f"/supervisor/reversals/{request.pk}/reject/"
    _anonymous_is_sent_to_sign_in("post", url, {"note": "no"})
    _post(world.cashier, url, {"note": "no"}, 403)
    _post(people.south, url, {"note": "no"}, 404)
    before = _state()
    response = signed_in(people.approver).post(url, {"note": ""}, follow=True)
    assert "A reason is required." in response.content.decode()
    assert _state() == before
    signed_in(people.approver).post(url, {"note": "the sale was right"})
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    assert request.decision_note == "the sale was right"
    sale.refresh_from_db()
    assert sale.status == SaleStatus.COMPLETED
    assert not Reversal.objects.filter(sale=sale).exists()


def test_decisions_are_posts_only(world: World, people: People) -> None:
    sale = _sell(world, world.add_meter(), "r2")
    request = _request(world, sale)
    response = signed_in(people.approver).get(f"/supervisor/reversals/{request.pk}/approve/")
    assert response.status_code == 405


def test_request_reversal_matrix_and_effect(world: World, people: People) -> None:
    sale = _sell(world, world.add_meter(), "q1")
    url = "/supervisor/reversals/request/"
    data = {"sale_reference": sale.reference, "reason": "customer paid twice"}
    _post(people.auditor, url, data, 403)
    body = _post(people.south, url, data, 404)  # the sale lies in another region
    assert "Not found" in body and 'name="sale_reference"' in body
    body = _post(world.cashier, url, {**data, "sale_reference": sale.reference.lower()}, 200)
    assert "waiting for another approver" in body
    created = ReversalRequest.objects.get(sale=sale)
    assert created.status == RequestStatus.PENDING and created.requested_by == world.cashier
    before = _state()
    body = _post(world.supervisor, url, data, 200)
    assert "A reversal of this sale is already waiting for approval." in body
    assert _state() == before


def test_request_reversal_form_takes_the_sale_from_the_link(world: World) -> None:
    sale = _sell(world, world.add_meter(), "q2")
    body = signed_in(world.cashier).get(f"/supervisor/reversals/request/?sale={sale.reference}")
    assert f'value="{sale.reference}"' in body.content.decode()


# --- free issue --------------------------------------------------------------------------------


def _free_issue_data(world: World, meter: Meter, point: VendingPoint, ref: str) -> dict[str, Any]:
    return {
        "vending_point": point.pk,
        "meter_number": meter.number,
        "kwh": "12.5",
        "reason": "outage compensation",
        "client_reference": ref,
    }


def test_free_issue_matrix_and_effect(
    world: World, people: People, south_point: VendingPoint
) -> None:
    meter = world.add_meter()
    url = "/supervisor/free-issue/"
    data = _free_issue_data(world, meter, world.point, "f" * 32)
    _post(people.care_operator, url, data, 403)
    body = _post(people.south, url, {**data, "vending_point": south_point.pk}, 404)
    assert meter.number in body and "No meter" in body
    page = signed_in(world.supervisor).get(url).content.decode()
    assert world.point.name in page and south_point.name not in page
    ref = _client_reference(page)
    body = _post(world.supervisor, url, {**data, "client_reference": ref}, 200)
    tokens = _tokens(body)
    assert len(tokens) == 1
    sim = world.simulator(meter)
    assert sim.enter(tokens[0]).accepted
    assert sim.credit() == Decimal("12.5")
    sale = Sale.objects.get(kind=SaleKind.FREE_ISSUE)
    assert sale.reason == "outage compensation" and sale.operator == world.supervisor
    assert _client_reference(body) != ref  # the next issue is a new request


def test_free_issue_sent_twice_issues_once(world: World) -> None:
    meter = world.add_meter()
    url = "/supervisor/free-issue/"
    data = _free_issue_data(world, meter, world.point, "a" * 32)
    first = _tokens(_post(world.supervisor, url, data, 200))
    again = _post(world.supervisor, url, data, 200)
    assert _tokens(again) == first
    assert "nothing new was issued" in again
    assert Sale.objects.filter(kind=SaleKind.FREE_ISSUE).count() == 1


def test_free_issue_refusals_are_shown_in_plain_words(world: World) -> None:
    meter = world.add_meter()
    url = "/supervisor/free-issue/"
    data = _free_issue_data(world, meter, world.point, "b" * 32)
    before = _state()
    body = _post(world.supervisor, url, {**data, "reason": "   "}, 200)
    assert "This field is required." in body
    body = _post(world.supervisor, url, {**data, "kwh": "5000"}, 200)
    assert "1000" in body
    assert _state() == before
    meters.block_meter(actor=world.admin, meter=meter, reason="tampering")
    before = _state()
    body = _post(world.supervisor, url, data, 200)
    assert f"Meter {meter.number} is blocked. Tokens cannot be sold for it." in body
    assert "Traceback" not in body
    assert _state() == before


# --- engineering tokens ------------------------------------------------------------------------


def _engineering_data(meter: Meter, point: VendingPoint, kind: str, ref: str) -> dict[str, Any]:
    return {
        "vending_point": point.pk,
        "meter_number": meter.number,
        "kind": kind,
        "value": "",
        "reason": "seal replaced",
        "client_reference": ref,
    }


def test_engineering_matrix_and_clear_tamper_effect(
    world: World, people: People, south_point: VendingPoint
) -> None:
    meter = world.add_meter()
    url = "/supervisor/engineering-tokens/"
    data = _engineering_data(meter, world.point, "clear_tamper", "c" * 32)
    _post(people.care_operator, url, data, 403)  # customer care, but an operator
    _post(people.approver, url, data, 403)  # a manager, but no customer care
    _post(people.south, url, {**data, "vending_point": south_point.pk}, 404)
    sim = world.simulator(meter)
    sim.set_tamper()
    body = _post(world.supervisor, url, data, 200)
    tokens = _tokens(body)
    assert len(tokens) == 1
    assert sim.enter(tokens[0]).accepted
    assert sim.tamper is False
    sale = Sale.objects.get(kind=SaleKind.ENGINEERING)
    assert sale.reason == "clear_tamper: seal replaced"


def test_power_limit_needs_a_value_and_reaches_the_meter(world: World) -> None:
    meter = world.add_meter()
    url = "/supervisor/engineering-tokens/"
    data = _engineering_data(meter, world.point, "set_power_limit", "d" * 32)
    before = _state()
    body = _post(world.supervisor, url, data, 200)
    assert "Give the limit in watts." in body
    assert _state() == before
    body = _post(world.supervisor, url, {**data, "value": "3000"}, 200)
    sim = world.simulator(meter)
    assert sim.enter(_tokens(body)[0]).accepted
    assert sim.power_limit_w == 3000


# --- key change --------------------------------------------------------------------------------


def test_key_change_matrix_and_effect(world: World, people: People) -> None:
    meter = world.add_meter()
    url = "/supervisor/key-change/"
    data = {"meter_number": meter.number, "krn": "3", "reason": "key revision rollout"}
    _post(world.supervisor, url, data, 403)  # a vending-point manager
    body = _post(people.south, url, data, 404)
    assert "No meter" in body
    body = _post(people.ms_manager, url, data, 200)
    assert "Key change recorded" in body
    change = KeyChange.objects.get(meter=meter)
    assert change.new_params["krn"] == 3 and change.old_params["krn"] == 2
    assert change.requested_by == people.ms_manager
    # The next token carries the key change ahead of it, and the meter takes them all.
    body = _post(
        world.supervisor,
        "/supervisor/free-issue/",
        _free_issue_data(world, meter, world.point, "e" * 32),
        200,
    )
    tokens = _tokens(body)
    assert len(tokens) == 3
    sim = world.simulator(meter)
    for token in tokens:
        assert sim.enter(token).accepted
    assert sim.credit() == Decimal("12.5")


def test_key_change_refusals(world: World, people: People) -> None:
    meter = world.add_meter()
    url = "/supervisor/key-change/"
    before = _state()
    body = _post(people.ms_manager, url, {"meter_number": meter.number, "reason": "x"}, 200)
    assert "same as the current ones" in body
    body = _post(
        people.ms_manager, url, {"meter_number": meter.number, "krn": "3", "reason": " "}, 200
    )
    # A DKGA02 roll-over on the base date alone would keep the meter's key.
    body = _post(
        people.ms_manager,
        url,
        {"meter_number": meter.number, "base_date_year": "2035", "reason": "roll-over"},
        200,
    )
    assert "give the same decoder key as the current ones" in body
    assert _state() == before


# --- meter block / unblock ---------------------------------------------------------------------


def test_block_matrix_and_effect(world: World, people: People) -> None:
    meter = world.add_meter()
    url = "/supervisor/meter-status/"
    data = {"meter_number": meter.number, "action": "block", "reason": "tampering found"}
    _post(people.care_operator, url, data, 403)
    _post(people.south, url, data, 404)
    body = _post(world.supervisor, url, data, 200)
    assert "is now Blocked" in body
    meter.refresh_from_db()
    assert meter.status == MeterStatus.BLOCKED and meter.block_reason == "tampering found"
    with pytest.raises(DomainError) as err:
        _sell(world, meter, "b1")
    assert err.value.code == "METER_BLOCKED"
    before = _state()
    body = _post(world.supervisor, url, data, 200)
    assert "so this cannot be done" in body
    assert _state() == before
    _post(world.supervisor, url, {**data, "action": "unblock", "reason": "seal fixed"}, 200)
    meter.refresh_from_db()
    assert meter.status == MeterStatus.ACTIVE
    assert _sell(world, meter, "b2").status == SaleStatus.COMPLETED


# --- faults ------------------------------------------------------------------------------------


def test_fault_registration_matrix_and_effect(world: World, people: People) -> None:
    meter = world.add_meter()
    url = "/supervisor/faults/new/"
    data = {
        "meter_number": meter.number,
        "category": "no_supply",
        "reported_via": "call",
        "reporter_name": "Amina",
        "reporter_phone": "+254700000001",
        "description": "no display",
    }
    _post(people.ms_manager, url, data, 403)
    _post(people.south, url, data, 404)
    response = signed_in(people.care_operator).post(url, data)
    assert response.status_code == 302
    fault = FaultReport.objects.get(meter=meter)
    assert response["Location"] == f"/supervisor/faults/{fault.pk}/"
    assert (fault.reporter_name, fault.description) == ("Amina", "no display")
    assert fault.category == "no_supply"
    assert fault.registered_by == people.care_operator


def test_the_callers_phone_is_stored_in_e164_and_a_non_number_is_refused(
    world: World, people: People
) -> None:
    meter = world.add_meter()
    url = "/supervisor/faults/new/"
    data = {
        "meter_number": meter.number,
        "category": "no_supply",
        "reported_via": "call",
        "reporter_name": "Amina",
        "description": "no display",
    }
    client = signed_in(people.care_operator)
    refused = client.post(url, {**data, "reporter_phone": "07"})
    assert refused.status_code == 200
    assert "too short" in " ".join(refused.context["form"].errors["reporter_phone"])
    assert not FaultReport.objects.filter(meter=meter).exists()
    assert client.post(url, {**data, "reporter_phone": "254 745 275 900"}).status_code == 302
    fault = FaultReport.objects.get(meter=meter)
    assert fault.reporter_phone == "+254745275900"
    assert "0745 275900" in client.get(f"/supervisor/faults/{fault.pk}/").content.decode()


def _fault(world: World, meter: Meter | None = None) -> FaultReport:
    return faults.register_fault(
        actor=world.supervisor, meter=meter or world.add_meter(), description="sparks"
    )


def test_fault_detail_and_list_are_scoped(world: World, people: People) -> None:
    fault = _fault(world)
    url = f"/supervisor/faults/{fault.pk}/"
    _anonymous_is_sent_to_sign_in("get", url)
    assert signed_in(world.cashier).get(url).status_code == 403
    assert signed_in(people.south).get(url).status_code == 404
    assert signed_in(people.field_agent).get(url).status_code == 200
    listing = signed_in(world.supervisor).get("/supervisor/faults/").content.decode()
    assert fault.meter.number in listing
    south_listing = signed_in(people.south).get("/supervisor/faults/").content.decode()
    assert fault.meter.number not in south_listing


def test_assign_matrix_and_effect(world: World, people: People) -> None:
    fault = _fault(world)
    url = f"/supervisor/faults/{fault.pk}/"
    data = {"action": "assign", "assignee": people.field_agent.pk}
    _anonymous_is_sent_to_sign_in("post", url, data)
    _post(people.field_agent, url, data, 403)  # may resolve, may not assign
    _post(people.south, url, data, 404)
    before = _state()
    body = _post(world.supervisor, url, {**data, "assignee": ""}, 200)
    assert "This field is required." in body
    # Only the field agents offered may be chosen: not a cashier, not someone elsewhere.
    for other in (world.cashier, people.south):
        body = _post(world.supervisor, url, {**data, "assignee": other.pk}, 200)
        assert "Select a valid choice." in body
    assert _state() == before
    page = signed_in(world.supervisor).get(url).content.decode()
    assert f'<option value="{people.field_agent.pk}">' in page
    assert f'<option value="{world.cashier.pk}">' not in page
    response = signed_in(world.supervisor).post(url, data)
    assert response.status_code == 302
    fault.refresh_from_db()
    assert fault.status == FaultStatus.ASSIGNED and fault.assignee == people.field_agent


def test_resolve_matrix_and_effect(world: World, people: People) -> None:
    fault = _fault(world)
    url = f"/supervisor/faults/{fault.pk}/"
    data = {"action": "resolve", "solution": "replaced the fuse"}
    before = _state()
    body = _post(people.field_agent, url, data, 200)
    assert "Assign the fault to a field agent before resolving it." in body
    assert _state() == before
    faults.assign_fault(actor=world.supervisor, fault=fault, assignee=people.field_agent)
    _anonymous_is_sent_to_sign_in("post", url, data)
    _post(people.care_operator, url, data, 403)
    _post(people.south, url, data, 404)
    response = signed_in(people.field_agent).post(url, data, follow=True)
    body = response.content.decode()
    assert "Fault resolved." in body
    fault.refresh_from_db()
    assert fault.status == FaultStatus.RESOLVED and fault.resolved_by == people.field_agent
    assert 'id="time-taken"' in body and "0 h 0 min" in body
    listing = signed_in(world.supervisor).get("/supervisor/faults/?status=resolved")
    assert "0 h 0 min" in listing.content.decode()


def test_unknown_fault_action_is_refused(world: World) -> None:
    fault = _fault(world)
    _post(world.supervisor, f"/supervisor/faults/{fault.pk}/", {"action": "delete"}, 403)


def test_tokens_read_left_to_right_on_an_arabic_page(world: World) -> None:
    from gridvend.identity import services as identity

    identity.set_language(actor=world.supervisor, language="ar")
    meter = world.add_meter()
    body = _post(
        world.supervisor,
        "/supervisor/free-issue/",
        _free_issue_data(world, meter, world.point, "9" * 32),
        200,
    )
    assert 'dir="rtl"' in body
    assert len(_tokens(body)) == 1
    assert f'<bdi dir="ltr">{meter.number}</bdi>' in body


def test_a_decision_note_that_cannot_be_read_says_why_and_decides_nothing(
    world: World, people: People
) -> None:
    sale = _sell(world, world.add_meter(), "r9")
    request = _request(world, sale)
    before = _state()
    response = signed_in(people.approver).post(
        f"/supervisor/reversals/{request.pk}/reject/",
        {"note": "Customer already used the token\u200b"},
        follow=True,
    )
    assert "Remove the invisible characters." in response.content.decode()
    assert _state() == before
