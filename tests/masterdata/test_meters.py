"""Meter services: registration, details, installation and status changes, with their refusals."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied, NotFound, ValidationFailed
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.keys.models import VendingKeyRecord
from gridvend.meters import keychanges, services
from gridvend.meters.models import Installation, KeyChangeStatus, Meter, MeterStatus
from tests.masterdata import factories as md
from tests.masterdata.conftest import World, payload, snapshot

pytestmark = pytest.mark.django_db


def _register(world: World, **overrides: Any) -> Meter:
    kwargs: dict[str, Any] = {
        "actor": world.care,
        "number": md.meter_number(12345678),
        "org_unit": world.tree.north_sc,
        "sgc": "600675",
        "ti": 1,
        "krn": 1,
        "key_ref": "test-vk",
        "make": "Hexing",
        "model": "HXE110",
    }
    kwargs.update(overrides)
    return services.register_meter(**kwargs)


def test_register_meter_stores_the_key_parameters_and_audits(world: World) -> None:
    meter = _register(world, number="0412 3456 78-" + md.meter_number(12345678)[-1], phases=3)
    assert meter.number == md.meter_number(12345678)
    assert (meter.sgc, meter.ti, meter.krn, meter.kt, meter.ken) == ("600675", 1, 1, 2, 255)
    assert (meter.ea, meter.dkga, meter.base_date_year, meter.key_ref) == (
        "07",
        "02",
        2014,
        "test-vk",
    )
    assert meter.status == MeterStatus.ACTIVE and meter.phases == 3
    event = AuditEvent.objects.get(event_type="meter.registered", target_id=str(meter.pk))
    assert event.actor_id == world.care.pk
    assert payload(event.after)["key"]["sgc"] == "600675"
    assert event.org_path == world.tree.north_sc.path


def test_field_agent_may_register_a_13_digit_meter(world: World) -> None:
    meter = _register(world, actor=world.field_agent, number=md.meter_number(1, mfr="0123"))
    assert len(meter.number) == 13


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("0412345678", "format"),
        ("041234567801", "format"),
        ("04123A56789", "format"),
        ("", "format"),
        ("wrong-check", "check_digit"),
    ],
)
def test_bad_meter_numbers_are_refused(world: World, number: str, problem: str) -> None:
    if number == "wrong-check":
        good = md.meter_number(12345678)
        number = good[:-1] + str((int(good[-1]) + 1) % 10)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        _register(world, number=number)
    assert exc.value.code == "METER_NUMBER_INVALID"
    assert exc.value.params["problem"] == problem
    assert snapshot() == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"sgc": "12345"},
        {"sgc": "12345a"},
        {"ti": 100},
        {"krn": 0},
        {"krn": "one"},
        {"kt": 4},
        {"ken": 256},
        {"ea": "09"},
        {"dkga": "03"},
        {"base_date_year": 2000},
        {"key_ref": " "},
    ],
)
def test_bad_key_parameters_are_refused(world: World, overrides: dict[str, Any]) -> None:
    md.vending_key()
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        _register(world, **overrides)
    assert exc.value.code == "METER_KEY_PARAMS_INVALID"
    assert snapshot() == before


def test_unknown_inactive_or_mismatched_vending_keys_are_refused(world: World) -> None:
    md.vending_key("dkga4-key", dkga="04")
    md.vending_key("retired-key")
    VendingKeyRecord.objects.filter(key_ref="retired-key").update(is_active=False)
    before = snapshot()
    for key_ref, code in [
        ("no-such-key", "VENDING_KEY_NOT_FOUND"),
        ("retired-key", "VENDING_KEY_NOT_FOUND"),
        ("dkga4-key", "VENDING_KEY_MISMATCH"),
    ]:
        with pytest.raises(DomainError) as exc:
            _register(world, key_ref=key_ref)
        assert exc.value.code == code
    assert snapshot() == before


def test_duplicate_meter_number_is_refused(world: World) -> None:
    meter = _register(world)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        _register(world, number=" " + meter.number[:4] + "-" + meter.number[4:])
    assert exc.value.code == "METER_NUMBER_TAKEN"
    assert snapshot() == before


@pytest.mark.parametrize("overrides", [{"phases": 4}, {"carrier": "smoke-signal"}])
def test_bad_meter_details_are_refused(world: World, overrides: dict[str, Any]) -> None:
    md.vending_key()
    before = snapshot()
    with pytest.raises(ValidationFailed):
        _register(world, **overrides)
    assert snapshot() == before


def test_register_refuses_without_capability_or_outside_scope(world: World) -> None:
    md.vending_key()
    before = snapshot()
    for actor in (world.cashier, world.finance, world.ms_manager):
        with pytest.raises(AccessDenied):
            _register(world, actor=actor)
    with pytest.raises(NotFound):
        _register(world, org_unit=world.tree.south_sc)
    assert snapshot() == before


def test_update_meter_changes_details_only(world: World) -> None:
    meter = _register(world)
    updated = services.update_meter(
        actor=world.field_agent, meter=meter, make="Conlog", carrier="ic_card"
    )
    updated.refresh_from_db()
    assert (updated.make, updated.model, updated.carrier) == ("Conlog", "HXE110", "ic_card")
    event = AuditEvent.objects.get(event_type="meter.updated")
    assert payload(event.before)["make"] == "Hexing" and payload(event.after)["make"] == "Conlog"
    with pytest.raises(TypeError):
        services.update_meter(actor=world.care, meter=meter, sgc="999999")  # type: ignore[call-arg]


def test_update_meter_refusals_change_nothing(world: World) -> None:
    meter = _register(world)
    south = md.meter(org_unit=world.tree.south_sc)
    before = snapshot()
    with pytest.raises(AccessDenied):
        services.update_meter(actor=world.cashier, meter=meter, make="x")
    with pytest.raises(NotFound):
        services.update_meter(actor=world.care, meter=south, make="x")
    with pytest.raises(ValidationFailed):
        services.update_meter(actor=world.care, meter=meter, phases=0)
    assert snapshot() == before


def test_install_meter_links_customer_and_premise_and_ends_the_previous_installation(
    world: World,
) -> None:
    meter = _register(world)
    first = md.customer(org_unit=world.tree.north_sc)
    second = md.customer(org_unit=world.tree.north_sc)
    home = md.premise(org_unit=world.tree.north_sc)
    shop = md.premise(org_unit=world.tree.north_bu)
    one = services.install_meter(actor=world.field_agent, meter=meter, customer=first, premise=home)
    two = services.install_meter(actor=world.care, meter=meter, customer=second, premise=shop)
    meter.refresh_from_db()
    assert (meter.customer_id, meter.premise_id) == (second.pk, shop.pk)
    one.refresh_from_db()
    assert one.ended_at is not None and one.end_reason == "Reinstalled"
    assert two.ended_at is None
    assert Installation.objects.filter(meter=meter, ended_at__isnull=True).get() == two
    events = AuditEvent.objects.filter(event_type="meter.installed", target_id=str(meter.pk))
    assert [payload(e.after)["customer"] for e in events.order_by("id")] == [
        first.account_number,
        second.account_number,
    ]


def test_install_meter_refusals_change_nothing(world: World) -> None:
    meter = _register(world)
    customer = md.customer(org_unit=world.tree.north_sc)
    premise = md.premise(org_unit=world.tree.north_sc)
    services.install_meter(actor=world.care, meter=meter, customer=customer, premise=premise)
    other = md.meter(org_unit=world.tree.north_sc)
    south_customer = md.customer(org_unit=world.tree.south_sc)
    south_premise = md.premise(org_unit=world.tree.south_sc)
    closed = md.customer(org_unit=world.tree.north_sc)
    md.customers.set_customer_status(
        actor=world.care, customer=closed, status="closed", reason="left"
    )
    retired = md.meter(org_unit=world.tree.north_sc)
    services.retire_meter(actor=world.care, meter=retired, reason="burnt")
    before = snapshot()

    def install(actor: User = world.care, **kw: Any) -> None:
        args = {"meter": other, "customer": customer, "premise": premise} | kw
        services.install_meter(actor=actor, **args)

    with pytest.raises(AccessDenied):
        install(actor=world.cashier)
    with pytest.raises(NotFound):
        install(customer=south_customer)
    with pytest.raises(NotFound):
        install(premise=south_premise)
    with pytest.raises(NotFound):
        install(actor=world.care_south, customer=south_customer, premise=south_premise)
    with pytest.raises(DomainError) as exc:
        install(customer=closed)
    assert exc.value.code == "CUSTOMER_CLOSED"
    with pytest.raises(DomainError) as exc:
        install(meter=retired)
    assert exc.value.code == "METER_RETIRED"
    with pytest.raises(DomainError) as exc:
        install(meter=meter)
    assert exc.value.code == "METER_ALREADY_INSTALLED"
    assert snapshot() == before


def test_block_unblock_and_faulty_cycle_with_reasons(world: World) -> None:
    meter = _register(world)
    services.block_meter(actor=world.care, meter=meter, reason="tamper seal broken")
    meter.refresh_from_db()
    assert (meter.status, meter.block_reason) == (MeterStatus.BLOCKED, "tamper seal broken")
    services.mark_meter_faulty(actor=world.care, meter=meter, reason="display dead")
    meter.refresh_from_db()
    assert (meter.status, meter.block_reason) == (MeterStatus.FAULTY, "display dead")
    services.unblock_meter(actor=world.care, meter=meter, reason="repaired")
    meter.refresh_from_db()
    assert (meter.status, meter.block_reason) == (MeterStatus.ACTIVE, "")
    events = list(
        AuditEvent.objects.filter(target_id=str(meter.pk), event_type__startswith="meter.")
        .exclude(event_type="meter.registered")
        .order_by("id")
        .values_list("event_type", "before", "after")
    )
    assert events == [
        (
            "meter.blocked",
            {"status": "active", "reason": ""},
            {"status": "blocked", "reason": "tamper seal broken"},
        ),
        (
            "meter.marked_faulty",
            {"status": "blocked", "reason": "tamper seal broken"},
            {"status": "faulty", "reason": "display dead"},
        ),
        (
            "meter.unblocked",
            {"status": "faulty", "reason": "display dead"},
            {"status": "active", "reason": "repaired"},
        ),
    ]


STATUS_CHANGES = [services.block_meter, services.unblock_meter, services.mark_meter_faulty]


@pytest.mark.parametrize("change", [*STATUS_CHANGES, services.retire_meter])
def test_status_changes_need_customer_care_and_a_manager(world: World, change: Any) -> None:
    meter = _register(world)
    south = md.meter(org_unit=world.tree.south_sc)
    before = snapshot()
    for actor in (world.care_operator, world.field_agent, world.finance, world.ms_manager):
        with pytest.raises(AccessDenied):
            change(actor=actor, meter=meter, reason="x")
    with pytest.raises(NotFound):
        change(actor=world.care, meter=south, reason="x")
    with pytest.raises(DomainError) as exc:
        change(actor=world.care, meter=meter, reason=" ")
    assert exc.value.code == "REASON_REQUIRED"
    assert snapshot() == before


def test_status_changes_refuse_meaningless_transitions(world: World) -> None:
    meter = _register(world)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.unblock_meter(actor=world.care, meter=meter, reason="x")
    assert exc.value.code == "METER_STATUS_CONFLICT"
    assert snapshot() == before
    services.block_meter(actor=world.care, meter=meter, reason="x")
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.block_meter(actor=world.care, meter=meter, reason="again")
    assert exc.value.code == "METER_STATUS_CONFLICT"
    assert snapshot() == before


def test_retire_meter_ends_the_installation_and_cancels_a_pending_key_change(
    world: World,
) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    meter = md.meter(customer=customer)
    change = keychanges.request_key_change(
        actor=world.ms_manager, meter=meter, krn=2, reason="key revision"
    )
    services.retire_meter(actor=world.care, meter=meter, reason="burnt out")
    meter.refresh_from_db()
    assert meter.status == MeterStatus.RETIRED
    assert meter.customer_id is None and meter.premise_id is None
    installation = Installation.objects.get(meter=meter)
    assert installation.ended_at is not None and installation.end_reason == "burnt out"
    change.refresh_from_db()
    assert change.status == KeyChangeStatus.CANCELLED
    event = AuditEvent.objects.get(event_type="meter.retired")
    assert payload(event.after)["ended_installation"] == installation.pk

    before = snapshot()
    for refused in (*STATUS_CHANGES, services.retire_meter):
        with pytest.raises(DomainError) as exc:
            refused(actor=world.care, meter=meter, reason="x")
        assert exc.value.code == "METER_RETIRED"
    assert snapshot() == before
