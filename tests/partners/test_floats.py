"""Float top-ups decided by two people, the single-person limit, the deposit reference as the
idempotency key, the statement against the ledger, and the low-float alert once per crossing."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from gridvend.approvals.models import RequestStatus
from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability, Role
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.clock import SystemClock, business_date
from gridvend.kernel.errors import DomainError
from gridvend.ledger.models import Posting
from gridvend.partners import selectors
from gridvend.partners import services as partners
from gridvend.partners.events import PartnerEvent
from gridvend.partners.models import FloatTopUpRequest, Partner
from gridvend.vending.models import FloatTopUp
from tests import factories
from tests.partners.support import call, make_partner
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


def _code(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    return str(caught.value.code)


def _finance(world: World, name: str) -> Any:
    return factories.user(
        world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,), username=name
    )


def _root_finance(world: World, name: str) -> Any:
    return factories.user(
        world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,), username=name
    )


def _events(kind: str) -> int:
    return AuditEvent.objects.filter(event_type=kind).count()


def test_a_top_up_waits_for_a_second_person_and_the_approval_posts_it() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0")
    maker, checker = _root_finance(world, "maker"), _root_finance(world, "checker")
    request = partners.request_top_up(
        actor=maker,
        partner=partner,
        amount=world.money("5000"),
        reference="DEP-001",
        note="transfer",
    )
    assert request.status == RequestStatus.PENDING and request.journal_entry is None
    assert selectors.float_available(partner) == world.money("0")
    assert _code(partners.approve_top_up, actor=maker, request=request) == (
        "MAKER_CHECKER_VIOLATION"
    )
    done = partners.approve_top_up(actor=checker, request=request, note="seen on statement")
    assert done.status == RequestStatus.APPROVED and done.decided_by == checker
    assert done.journal_entry is not None
    assert selectors.float_available(partner) == world.money("5000")
    assert FloatTopUp.objects.filter(reference="DEP-001").count() == 1
    assert _code(partners.approve_top_up, actor=checker, request=request) == (
        "REQUEST_ALREADY_DECIDED"
    )
    assert _events(PartnerEvent.FLOAT_TOP_UP_REQUESTED) == 1
    assert _events(PartnerEvent.FLOAT_TOP_UP_APPROVED) == 1


def test_a_rejected_top_up_needs_a_reason_and_leaves_the_float_alone() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0")
    maker, checker = _root_finance(world, "maker"), _root_finance(world, "checker")
    request = partners.request_top_up(
        actor=maker, partner=partner, amount=world.money("100"), reference="DEP-2"
    )
    assert _code(partners.reject_top_up, actor=checker, request=request, note=" ") == (
        "REASON_REQUIRED"
    )
    rejected = partners.reject_top_up(actor=checker, request=request, note="no such deposit")
    assert rejected.status == RequestStatus.REJECTED
    assert selectors.float_available(partner) == world.money("0")
    assert not FloatTopUp.objects.filter(reference="DEP-2").exists()


def test_only_finance_in_the_partners_subtree_asks_or_decides() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0")
    north = _finance(world, "north.finance")  # the partner hangs at the root: out of scope
    clerk = factories.user(world.tree.root, Role.MASTER_STATION_MANAGER, (), username="clerk")
    maker = _root_finance(world, "maker")
    amount = world.money("10")
    assert _code(
        partners.request_top_up, actor=north, partner=partner, amount=amount, reference="A"
    ) in ("NOT_FOUND", "PERMISSION_DENIED")
    assert _code(
        partners.request_top_up, actor=clerk, partner=partner, amount=amount, reference="A"
    ) == ("PERMISSION_DENIED")
    request = partners.request_top_up(actor=maker, partner=partner, amount=amount, reference="A")
    assert _code(partners.approve_top_up, actor=clerk, request=request) == "PERMISSION_DENIED"
    assert _code(partners.approve_top_up, actor=north, request=request) in (
        "NOT_FOUND",
        "PERMISSION_DENIED",
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_the_same_reference_answers_the_first_request_and_another_amount_is_refused() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0")
    maker = _root_finance(world, "maker")
    first = partners.request_top_up(
        actor=maker, partner=partner, amount=world.money("700"), reference="DEP-9"
    )
    again = partners.request_top_up(
        actor=maker, partner=partner, amount=world.money("700"), reference=" DEP-9 "
    )
    assert again.pk == first.pk
    assert FloatTopUpRequest.objects.count() == 1
    assert (
        _code(
            partners.request_top_up,
            actor=maker,
            partner=partner,
            amount=world.money("701"),
            reference="DEP-9",
        )
        == "DUPLICATE_REQUEST"
    )


def test_hostile_amounts_and_references_are_refused_before_anything_is_written() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0")
    maker = _root_finance(world, "maker")
    for amount, reference in [
        (world.money("0"), "Z1"),
        (world.money("-5"), "Z2"),
        (world.money("1"), ""),
        (world.money("1"), "x" * 65),
        (world.money("1"), "bad\u202eref"),
    ]:
        _code(
            partners.request_top_up,
            actor=maker,
            partner=partner,
            amount=amount,
            reference=reference,
        )
    assert not FloatTopUpRequest.objects.exists()


def test_at_or_below_the_threshold_one_person_records_the_top_up() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0")
    maker = _root_finance(world, "maker")
    limit = world.money("1000").minor
    with override_settings(FLOAT_TOP_UP_APPROVAL_MINOR=limit):
        small = partners.request_top_up(
            actor=maker, partner=partner, amount=world.money("1000"), reference="S1"
        )
        large = partners.request_top_up(
            actor=maker, partner=partner, amount=world.money("1000.01"), reference="L1"
        )
    assert small.status == RequestStatus.APPROVED and small.decided_by == maker
    assert small.journal_entry is not None
    assert large.status == RequestStatus.PENDING
    assert selectors.float_available(partner) == world.money("1000")
    assert settings.FLOAT_TOP_UP_APPROVAL_MINOR == 0


def test_the_daily_statement_ties_top_ups_and_sales_to_the_float_postings() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0")
    maker, checker = _root_finance(world, "maker"), _root_finance(world, "checker")
    request = partners.request_top_up(
        actor=maker, partner=partner, amount=world.money("2000"), reference="D1"
    )
    partners.approve_top_up(actor=checker, request=request)
    meter = world.add_meter()
    partners.purchase(call(partner), "r1", meter.number, tender=world.money("300"))
    today = business_date(SystemClock().now(), settings.TIME_ZONE)
    statement = selectors.float_statement(partner, today)
    assert statement.top_ups == world.money("2000") and statement.top_up_count == 1
    assert statement.sales == world.money("300") and statement.sale_count == 1
    assert statement.closing == world.money("1700") and statement.ties
    postings = Posting.objects.filter(account__code=partner.float_account)
    assert -sum(p.amount_minor for p in postings) == statement.closing.minor


@override_settings(SMS_BACKEND="console", EMAIL_ENABLED=True)
def test_the_low_float_alert_is_raised_once_per_crossing() -> None:
    world = build_world()
    partner = make_partner(world, float_major="1000")
    maker = _root_finance(world, "maker")
    maker.email = "maker@utility.example"
    maker.save(update_fields=["email"])
    partners.update_partner(
        actor=world.admin,
        partner=partner,
        low_float=world.money("500"),
        contact_email="ops@bank.example",
        contact_phone="0745 275 900",
    )
    partner.refresh_from_db()
    meter = world.add_meter()
    partners.purchase(call(partner), "r1", meter.number, tender=world.money("300"))
    assert _events(PartnerEvent.LOW_FLOAT_ALERTED) == 0
    partners.purchase(call(partner), "r2", meter.number, tender=world.money("300"))
    assert _events(PartnerEvent.LOW_FLOAT_ALERTED) == 1
    # One e-mail to the partner, one to finance, one SMS: queued with the crossing.
    messages = OutboxMessage.objects.filter(key__contains="low-float:acme-bank")
    assert sorted(m.kind for m in messages) == ["email", "email", "sms"]
    to = {m.key.rsplit(":", 1)[1]: m.payload["to"] for m in messages}
    assert to["contact_email"] == ["ops@bank.example"]
    assert "maker@utility.example" in to["finance0"]
    assert to["contact_phone"] == "+254745275900"
    assert "700" not in messages.get(kind="sms").payload["text"]
    assert "KES 400.00" in messages.get(kind="sms").payload["text"]
    partners.purchase(call(partner), "r3", meter.number, tender=world.money("100"))
    assert OutboxMessage.objects.filter(key__contains="low-float:acme-bank").count() == 3
    assert partners.check_low_floats() == {"alerted": 0, "recovered": 0}
    assert _events(PartnerEvent.LOW_FLOAT_ALERTED) == 1
    alert = AuditEvent.objects.get(event_type=PartnerEvent.LOW_FLOAT_ALERTED)
    assert alert.after is not None
    assert "ops@bank.example" in alert.after["contacts"]
    assert "maker" in alert.after["finance"]
    assert Partner.objects.get(pk=partner.pk).low_float_alerted_at is not None
    with override_settings(FLOAT_TOP_UP_APPROVAL_MINOR=world.money("1000").minor):
        partners.request_top_up(
            actor=maker, partner=partner, amount=world.money("1000"), reference="T1"
        )
    assert _events(PartnerEvent.LOW_FLOAT_RECOVERED) == 1
    assert Partner.objects.get(pk=partner.pk).low_float_alerted_at is None
    partners.purchase(call(partner), "r4", meter.number, tender=world.money("900"))
    assert _events(PartnerEvent.LOW_FLOAT_ALERTED) == 2
    assert OutboxMessage.objects.filter(key__contains="low-float:acme-bank").count() == 6


def test_the_sweep_catches_a_crossing_made_by_a_new_alert_level() -> None:
    world = build_world()
    partner = make_partner(world, float_major="100")
    partners.update_partner(actor=world.admin, partner=partner, low_float=world.money("500"))
    assert partners.check_low_floats() == {"alerted": 1, "recovered": 0}
    assert partners.check_low_floats() == {"alerted": 0, "recovered": 0}
