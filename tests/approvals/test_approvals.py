"""The approvals mechanism: one decision per request, by someone other than the requester, with
the decider's right checked first and the effect, the decision and its audit event together."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from gridvend.approvals import services as approvals
from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.vending import services as vending
from gridvend.vending.models import RequestStatus, ReversalRequest, Sale, SaleStatus
from gridvend.vending.services.reversals import REVERSAL_DECISION
from tests import factories
from tests.world import World

pytestmark = pytest.mark.django_db


def _approver(world: World) -> User:
    return factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))


def _requested(world: World, ref: str = "a1") -> ReversalRequest:
    sale = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=world.add_meter().number,
        tender=world.money("500.00"),
        clock=world.clock,
    ).sale
    return vending.request_reversal(actor=world.cashier, sale=sale, reason="wrong meter")


def _state(request: ReversalRequest) -> tuple[Any, ...]:
    request.refresh_from_db()
    return (request.status, request.decided_by_id, request.sale.status, AuditEvent.objects.count())


def test_request_is_pending_and_audited(world: World) -> None:
    request = _requested(world)
    assert request.status == RequestStatus.PENDING and request.is_pending
    event = AuditEvent.objects.filter(event_type="reversal.requested").get()
    assert event.after == {
        "sale": request.sale.reference,
        "reason": "wrong meter",
        "requester_shift": request.requester_shift_id,
    }


def test_the_requester_may_not_decide_their_own_request(world: World) -> None:
    requester = _approver(world)
    request = _requested(world)
    # Someone with finance asks on another's behalf: they may still not decide it themselves.
    ReversalRequest.objects.filter(pk=request.pk).update(requested_by=requester)
    request.refresh_from_db()
    before = _state(request)
    for decide in (
        lambda: vending.approve_reversal(actor=requester, request=request, clock=world.clock),
        lambda: vending.reject_reversal(actor=requester, request=request, note="no"),
    ):
        with pytest.raises(DomainError) as err:
            decide()
        assert err.value.code == "MAKER_CHECKER_VIOLATION"
        assert _state(request) == before


def test_a_decided_request_is_never_decided_again(world: World) -> None:
    approver = _approver(world)
    request = _requested(world)
    vending.reject_reversal(actor=approver, request=request, note="customer withdrew")
    before = _state(request)
    for decide in (
        lambda: vending.approve_reversal(actor=approver, request=request, clock=world.clock),
        lambda: vending.reject_reversal(actor=world.supervisor, request=request, note="again"),
    ):
        with pytest.raises(DomainError) as err:
            decide()
        assert err.value.code == "REQUEST_ALREADY_DECIDED"
        assert _state(request) == before
    assert before[0] == RequestStatus.REJECTED and before[2] == SaleStatus.COMPLETED


def test_approval_does_it_and_records_the_decision_once(world: World) -> None:
    approver = _approver(world)
    request = _requested(world)
    vending.approve_reversal(actor=approver, request=request, note="ok", clock=world.clock)
    request.refresh_from_db()
    assert (request.status, request.decided_by_id, request.decision_note) == (
        RequestStatus.APPROVED,
        approver.pk,
        "ok",
    )
    assert Sale.objects.get(pk=request.sale_id).status == SaleStatus.REVERSED
    approved = AuditEvent.objects.filter(event_type="reversal.approved").get()
    assert approved.after == {"note": "ok"}


def test_the_deciders_right_is_checked_before_anything_is_locked(world: World) -> None:
    request = _requested(world)
    before = _state(request)
    with pytest.raises(DomainError) as err:
        vending.approve_reversal(actor=world.cashier, request=request, clock=world.clock)
    assert err.value.code == "PERMISSION_DENIED"
    assert _state(request) == before


def test_a_rejection_needs_a_reason(world: World) -> None:
    request = _requested(world)
    with pytest.raises(DomainError) as err:
        vending.reject_reversal(actor=_approver(world), request=request, note="  ")
    assert err.value.code == "REASON_REQUIRED"


def test_an_approval_whose_effect_fails_leaves_the_request_pending(world: World) -> None:
    request = _requested(world)
    approver = _approver(world)
    before = _state(request)

    def fail(locked: ReversalRequest) -> approvals.Outcome[None]:
        raise DomainError("SOMETHING_REFUSED", "refused")

    with pytest.raises(DomainError):
        approvals.approve_decision(
            REVERSAL_DECISION,
            actor=approver,
            request=request,
            note="",
            now=world.clock.now(),
            carry_out=fail,
        )
    assert _state(request) == before


def test_a_use_case_refuses_to_run_inside_another_transaction(world: World) -> None:
    request = _requested(world)
    approver = _approver(world)
    with pytest.raises(RuntimeError), transaction.atomic():
        vending.reject_reversal(actor=approver, request=request, note="no")
    with pytest.raises(RuntimeError), transaction.atomic():
        vending.vend_credit(
            actor=world.cashier,
            vending_point=world.point,
            client_reference="nested",
            meter_number=world.add_meter().number,
            tender=world.money("500.00"),
            clock=world.clock,
        )
