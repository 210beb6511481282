"""Meter replacement (history, retirement, credit transfer) and key-change requests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied, NotFound, ValidationFailed
from gridvend.kernel.errors import DomainError
from gridvend.meters import keychanges, selectors
from gridvend.meters import services as meter_services
from gridvend.meters.models import KeyChange, KeyChangeStatus, MeterStatus
from gridvend.vending import services
from tests import factories
from tests.masterdata import factories as md
from tests.masterdata.conftest import World, payload, snapshot

pytestmark = pytest.mark.django_db


def test_replacement_keeps_the_installation_history(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    old = md.meter(customer=customer)
    new = md.meter(org_unit=world.tree.north_sc)
    result = services.replace_meter(
        actor=world.field_agent, old_meter=old, new_meter=new, reason="burnt terminal"
    )
    assert result.credit_transfer is None
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.status == MeterStatus.RETIRED and old.customer_id is None
    assert (new.customer_id, new.premise_id) == (customer.pk, result.installation.premise_id)
    assert result.ended_installation.end_reason == "burnt terminal"

    old_history = list(selectors.installation_history(world.care, old))
    new_history = list(selectors.installation_history(world.care, new))
    assert [i.pk for i in old_history] == [result.ended_installation.pk]
    assert old_history[0].ended_at is not None
    assert [i.pk for i in new_history] == [result.installation.pk]
    assert new_history[0].ended_at is None
    assert old_history[0].premise_id == new_history[0].premise_id
    assert old_history[0].customer_id == new_history[0].customer_id == customer.pk

    replaced = AuditEvent.objects.get(event_type="meter.replaced", target_id=str(old.pk))
    assert payload(replaced.after)["new_meter"] == new.number
    installed = AuditEvent.objects.filter(event_type="meter.installed", target_id=str(new.pk))
    assert payload(installed.get().after)["replaces"] == old.number


def test_replacement_refusals_change_nothing(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    old = md.meter(customer=customer)
    spare = md.meter(org_unit=world.tree.north_sc)
    uninstalled = md.meter(org_unit=world.tree.north_sc)
    installed_elsewhere = md.meter(customer=md.customer(org_unit=world.tree.north_sc))
    blocked = md.meter(org_unit=world.tree.north_sc)
    meter_services.block_meter(actor=world.care, meter=blocked, reason="x")
    south = md.meter(org_unit=world.tree.south_sc)
    before = snapshot()

    def replace(**kw: Any) -> None:
        args: dict[str, Any] = {
            "actor": world.care,
            "old_meter": old,
            "new_meter": spare,
            "reason": "swap",
        }
        services.replace_meter(**(args | kw))

    with pytest.raises(AccessDenied):
        replace(actor=world.cashier)
    with pytest.raises(NotFound):
        replace(new_meter=south)
    with pytest.raises(DomainError) as exc:
        replace(reason="")
    assert exc.value.code == "REASON_REQUIRED"
    with pytest.raises(ValidationFailed):
        replace(new_meter=old)
    with pytest.raises(ValidationFailed):
        replace(remaining_kwh=Decimal("-1"))
    for kwargs, code in [
        ({"old_meter": uninstalled}, "METER_NOT_INSTALLED"),
        ({"new_meter": installed_elsewhere}, "METER_ALREADY_INSTALLED"),
        ({"new_meter": blocked}, "METER_STATUS_CONFLICT"),
    ]:
        with pytest.raises(DomainError) as exc:
            replace(**kwargs)
        assert exc.value.code == code
    assert snapshot() == before


def test_replacement_rolls_back_when_the_credit_transfer_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    old = md.meter(customer=customer)
    new = md.meter(org_unit=world.tree.north_sc)
    calls: list[dict[str, Any]] = []

    def refuse(**kwargs: Any) -> None:
        calls.append(kwargs)
        # The new meter is already installed for the customer when the transfer runs.
        assert kwargs["meter"].customer_id == customer.pk
        raise DomainError("TRANSFER_REFUSED", "no")

    monkeypatch.setattr("gridvend.vending.services.transfer._issue_credit_transfer", refuse)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.replace_meter(
            actor=world.care,
            old_meter=old,
            new_meter=new,
            reason="swap",
            remaining_kwh=Decimal("12.5"),
        )
    assert exc.value.code == "TRANSFER_REFUSED"
    assert [(c["meter"].pk, c["kwh"], c["vending_point"], c["reason"]) for c in calls] == [
        (new.pk, Decimal("12.5"), None, "swap")
    ]
    assert snapshot() == before


def test_replacement_moves_remaining_credit_to_the_new_meter(world: World) -> None:
    from gridvend.vending.models import Sale, SaleKind

    point = factories.vending_point(world.tree.north_sc)
    customer = md.customer(org_unit=world.tree.north_sc)
    old = md.meter(customer=customer)
    new = md.meter(org_unit=world.tree.north_sc)
    result = services.replace_meter(
        actor=world.care,
        old_meter=old,
        new_meter=new,
        reason="swap",
        remaining_kwh=Decimal("12.5"),
        vending_point=point,
    )
    sale = result.credit_transfer
    assert isinstance(sale, Sale)
    assert sale.kind == SaleKind.CREDIT_TRANSFER
    assert sale.meter_id == new.pk and sale.customer_id == customer.pk
    assert sale.kwh >= Decimal("12.5")
    assert sale.tokens.count() == 1


def test_zero_remaining_credit_issues_no_transfer(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    old = md.meter(customer=customer)
    new = md.meter(org_unit=world.tree.north_sc)
    result = services.replace_meter(
        actor=world.care, old_meter=old, new_meter=new, reason="swap", remaining_kwh=Decimal(0)
    )
    assert result.credit_transfer is None


def test_request_key_change_records_old_and_new_parameters(world: World) -> None:
    md.vending_key("vk-2024")
    meter = md.meter(org_unit=world.tree.north_sc)
    change = keychanges.request_key_change(
        actor=world.ms_manager, meter=meter, sgc="654321", krn=2, key_ref="vk-2024", reason="rekey"
    )
    assert change.status == KeyChangeStatus.PENDING and change.roll_over is False
    assert change.requested_by_id == world.ms_manager.pk
    assert change.old_params == {
        "meter_number": meter.number,
        "sgc": "123456",
        "ti": 1,
        "krn": 1,
        "kt": 2,
        "ken": 255,
        "ea": "07",
        "dkga": "02",
        "base_date_year": 2014,
        "key_ref": "test-vk",
    }
    assert change.new_params == change.old_params | {
        "sgc": "654321",
        "krn": 2,
        "key_ref": "vk-2024",
    }
    meter.refresh_from_db()
    assert (meter.sgc, meter.krn) == ("123456", 1)  # moved on only when the tokens are issued
    assert selectors.pending_key_change(meter) == change
    event = AuditEvent.objects.get(event_type="key_change.requested", target_id=str(change.pk))
    assert payload(event.after)["new"]["sgc"] == "654321"


def test_base_date_change_is_a_roll_over(world: World) -> None:
    # DKGA02 does not take the base date into the key: the roll-over needs a new KRN as well.
    meter = md.meter(org_unit=world.tree.north_sc)
    change = keychanges.request_key_change(
        actor=world.tree.admin, meter=meter, base_date_year=2035, krn=2, reason="TID roll-over"
    )
    assert change.roll_over is True
    assert change.new_params["base_date_year"] == 2035


def test_dkga04_base_date_change_alone_is_a_roll_over_with_a_new_key(world: World) -> None:
    meter = md.meter(org_unit=world.tree.north_sc, key_ref="dkga4", dkga="04")
    change = keychanges.request_key_change(
        actor=world.tree.admin, meter=meter, base_date_year=2035, reason="TID roll-over"
    )
    assert change.roll_over is True
    assert change.new_params == change.old_params | {"base_date_year": 2035}


def test_key_change_that_keeps_the_decoder_key_is_refused_and_changes_nothing(
    world: World,
) -> None:
    """A DKGA02 roll-over on the base date alone keeps the key, yet would clear the meter's TID
    memory: every token already entered would credit again. Nothing is recorded."""
    meter = md.meter(org_unit=world.tree.north_sc)
    md.vending_key("same-bytes")  # another reference holding the same vending key
    before = snapshot()
    cases: list[dict[str, Any]] = [
        {"base_date_year": 2035},
        {"base_date_year": 1993},
        {"ken": 200},
        {"key_ref": "same-bytes"},
        {"base_date_year": 2035, "ken": 200, "key_ref": "same-bytes"},
    ]
    for kwargs in cases:
        with pytest.raises(DomainError) as exc:
            keychanges.request_key_change(
                actor=world.ms_manager, meter=meter, reason="TID roll-over", **kwargs
            )
        assert exc.value.code == "KEY_CHANGE_SAME_KEY", kwargs
        assert exc.value.params["meter_number"] == meter.number
    assert snapshot() == before
    assert selectors.pending_key_change(meter) is None
    assert not KeyChange.objects.filter(meter=meter).exists()
    assert not AuditEvent.objects.filter(event_type="key_change.requested").exists()


def test_key_change_refusals_change_nothing(world: World) -> None:
    meter = md.meter(org_unit=world.tree.north_sc)
    south = md.meter(org_unit=world.tree.south_sc)
    md.vending_key("dkga4", dkga="04")
    before = snapshot()
    with pytest.raises(AccessDenied):
        keychanges.request_key_change(actor=world.care, meter=meter, krn=2, reason="x")
    with pytest.raises(NotFound):
        keychanges.request_key_change(actor=world.ms_manager, meter=south, krn=2, reason="x")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"krn": 2, "reason": " "}, "REASON_REQUIRED"),
        ({"reason": "x"}, "KEY_CHANGE_NOTHING_TO_CHANGE"),
        ({"krn": 1, "ti": 1, "reason": "x"}, "KEY_CHANGE_NOTHING_TO_CHANGE"),
        ({"krn": 10, "reason": "x"}, "METER_KEY_PARAMS_INVALID"),
        ({"base_date_year": 2020, "reason": "x"}, "METER_KEY_PARAMS_INVALID"),
        ({"key_ref": "missing", "reason": "x"}, "VENDING_KEY_NOT_FOUND"),
        ({"key_ref": "dkga4", "reason": "x"}, "VENDING_KEY_MISMATCH"),
    ]
    for kwargs, code in cases:
        with pytest.raises(DomainError) as exc:
            keychanges.request_key_change(actor=world.ms_manager, meter=meter, **kwargs)
        assert exc.value.code == code, kwargs
    assert snapshot() == before


def test_second_key_change_while_one_is_pending_is_refused(world: World) -> None:
    meter = md.meter(org_unit=world.tree.north_sc)
    keychanges.request_key_change(actor=world.ms_manager, meter=meter, krn=2, reason="x")
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        keychanges.request_key_change(actor=world.ms_manager, meter=meter, krn=3, reason="y")
    assert exc.value.code == "METER_KEY_CHANGE_PENDING"
    assert snapshot() == before
    assert KeyChange.objects.count() == 1
