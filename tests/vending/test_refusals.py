"""Every refusal of a sale has a stable code and leaves the books, tokens and meters untouched."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from gridvend.audit import context
from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.ledger.models import Account, JournalEntry
from gridvend.meters import services as meters
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token
from tests import factories
from tests.tariffs.factories import published_tariff, residential_spec
from tests.world import World, meter_number

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple[object, ...]:
    return (
        Sale.objects.count(),
        Token.objects.count(),
        JournalEntry.objects.count(),
        AuditEvent.objects.count(),
        tuple(Meter.objects.order_by("pk").values_list("last_tid", flat=True)),
        tuple(Account.objects.order_by("pk").values_list("balance_minor", flat=True)),
    )


def _refused(code: str, call: object) -> None:
    before = _snapshot()
    with pytest.raises(DomainError) as err:
        call()  # type: ignore[operator]
    assert err.value.code == code, err.value
    assert err.value.message
    assert _snapshot() == before


def _sell(world: World, number: str, *, amount: str = "500.00", ref: str = "r", **kw: object):
    return lambda: vending.vend_credit(
        actor=kw.pop("actor", world.cashier),  # type: ignore[arg-type]
        vending_point=kw.pop("point", world.point),  # type: ignore[arg-type]
        client_reference=ref,
        meter_number=number,
        tender=kw.pop("tender", world.money(amount)),  # type: ignore[arg-type]
        clock=world.clock,
        **kw,  # type: ignore[arg-type]
    )


def test_unknown_meter(world: World) -> None:
    _refused("METER_NOT_FOUND", _sell(world, "04123456789"))
    _refused("METER_NOT_FOUND", _sell(world, "not a meter"))


def test_meter_of_another_region_looks_unknown(world: World) -> None:
    south_meter = world.add_meter(unit=world.tree.south_sc)
    _refused("METER_NOT_FOUND", _sell(world, south_meter.number))


def test_blocked_retired_and_faulty_meters(world: World) -> None:
    blocked = world.add_meter()
    meters.block_meter(actor=world.admin, meter=blocked, reason="tampering found")
    _refused("METER_BLOCKED", _sell(world, blocked.number))
    faulty = world.add_meter()
    meters.mark_meter_faulty(actor=world.admin, meter=faulty, reason="display dead")
    _refused("METER_FAULTY", _sell(world, faulty.number))
    retired = world.add_meter()
    meters.retire_meter(actor=world.admin, meter=retired, reason="removed")
    _refused("METER_RETIRED", _sell(world, retired.number))


def test_amount_limits(world: World) -> None:
    meter = world.add_meter()
    _refused("AMOUNT_BELOW_MINIMUM", _sell(world, meter.number, amount="49.99"))
    _refused("AMOUNT_ABOVE_MAXIMUM", _sell(world, meter.number, amount="100000.01"))
    _refused("INVALID_AMOUNT", _sell(world, meter.number, amount="0.00"))
    _refused("CURRENCY_MISMATCH", _sell(world, meter.number, tender=Money.from_major("500", "NGN")))


def test_tender_that_only_covers_charges(world: World) -> None:
    meter = world.add_meter()
    # Fixed charge 150.00 + 16 % VAT = 174.00 is due first this month.
    _refused("TENDER_BELOW_CHARGES_DUE", _sell(world, meter.number, amount="100.00"))


def test_tariff_not_in_force(world: World) -> None:
    future = published_tariff(
        org_unit=world.tree.root,
        spec=residential_spec(),
        effective_from=world.clock.now() + timedelta(days=10),
    )
    meter = world.add_meter(tariff=future)
    _refused("TARIFF_NOT_FOUND", _sell(world, meter.number))


def test_key_revision_expired(world: World) -> None:
    meter = world.add_meter(base_date_year=1993, krn=1)
    _refused("KEY_REVISION_EXPIRED", _sell(world, meter.number))


def test_duplicate_request(world: World) -> None:
    meter = world.add_meter()
    _sell(world, meter.number, ref="dup")()
    _refused("DUPLICATE_REQUEST", _sell(world, meter.number, ref="dup", amount="501.00"))


def test_insufficient_float(world: World) -> None:
    bank = org.create_vending_point(
        actor=world.admin, org_unit=world.tree.root, name="Bank Channel", channel="bank"
    )
    bank.uses_float = True
    bank.save(update_fields=["uses_float"])
    teller = factories.user(world.tree.root, capabilities=(Capability.CASHIER,))
    meter = world.add_meter()
    vending.top_up_float(
        actor=world.admin, vending_point=bank, amount=world.money("400.00"), reference="dep-1"
    )
    _refused("INSUFFICIENT_FLOAT", _sell(world, meter.number, actor=teller, point=bank))
    result = _sell(world, meter.number, actor=teller, point=bank, amount="400.00", ref="ok")()
    assert result.sale.tender_minor == 40000
    assert vending.float_available(bank, "KES") == world.money("0.00")


def test_seller_without_cashier_capability(world: World) -> None:
    meter = world.add_meter()
    clerk = factories.user(world.tree.north_sc, capabilities=(Capability.CUSTOMER_CARE,))
    _refused("PERMISSION_DENIED", _sell(world, meter.number, actor=clerk))


def test_point_outside_scope_inactive_or_wrong_address(world: World) -> None:
    meter = world.add_meter()
    south_point = org.create_vending_point(
        actor=world.admin, org_unit=world.tree.south_sc, name="South Office", channel="pay_office"
    )
    _refused("NOT_FOUND", _sell(world, meter.number, point=south_point))
    org.update_vending_point(actor=world.admin, point=world.point, ip_allow_list="10.9.0.0/16")
    world.point.refresh_from_db()
    with context.bound(context.RequestContext(ip="192.0.2.7", request_id="t")):
        _refused("VENDING_POINT_ADDRESS_REFUSED", _sell(world, meter.number))
    with context.bound(context.RequestContext(ip="10.9.4.2", request_id="t")):
        assert _sell(world, meter.number, ref="from-lan")().sale.pk
    org.update_vending_point(actor=world.admin, point=world.point, status="suspended")
    world.point.refresh_from_db()
    _refused("VENDING_POINT_INACTIVE", _sell(world, meter.number, ref="x"))


def test_missing_or_overlong_reference(world: World) -> None:
    meter = world.add_meter()
    _refused("CLIENT_REFERENCE_INVALID", _sell(world, meter.number, ref="  "))
    _refused("CLIENT_REFERENCE_INVALID", _sell(world, meter.number, ref="x" * 65))


def test_free_issue_limits(world: World) -> None:
    meter = world.add_meter()
    _refused(
        "INVALID_AMOUNT",
        lambda: vending.issue_free_credit(
            actor=world.supervisor,
            vending_point=world.point,
            client_reference="f",
            meter_number=meter.number,
            kwh=Decimal("5000"),
            reason="goodwill",
            clock=world.clock,
        ),
    )


def test_credit_transfer_is_guarded_like_free_energy(world: World) -> None:
    from gridvend.meters import services as meters_services

    old = world.add_meter()
    agent = factories.user(world.unit, capabilities=(Capability.FIELD_AGENT,))
    new = meters_services.register_meter(
        actor=world.admin,
        number=meter_number(99_000_001),
        org_unit=world.unit,
        sgc="600675",
        ti=1,
        krn=2,
        key_ref=world.key_ref,
    )
    _refused(
        "CREDIT_TRANSFER_ABOVE_LIMIT",
        lambda: vending.replace_meter(
            actor=agent,
            old_meter=old,
            new_meter=new,
            reason="burnt meter",
            remaining_kwh=Decimal("50002.4"),
        ),
    )
    old.refresh_from_db()
    assert old.status == "active"  # the whole replacement was undone
    result = vending.replace_meter(
        actor=agent, old_meter=old, new_meter=new, reason="burnt meter", remaining_kwh=Decimal("42")
    )
    assert result.credit_transfer is not None and result.credit_transfer.kwh == Decimal("42")


def test_float_top_up_is_recorded_once_per_reference(world: World) -> None:
    bank = org.create_vending_point(
        actor=world.admin, org_unit=world.tree.root, name="Bank Two", channel="bank"
    )
    bank.uses_float = True
    bank.save(update_fields=["uses_float"])
    first = vending.top_up_float(
        actor=world.admin, vending_point=bank, amount=world.money("10000.00"), reference="DEP-001"
    )
    state = _snapshot()
    again = vending.top_up_float(
        actor=world.admin, vending_point=bank, amount=world.money("10000.00"), reference="DEP-001"
    )
    assert again.pk == first.pk and _snapshot() == state
    assert vending.float_available(bank, "KES") == world.money("10000.00")
    _refused(
        "DUPLICATE_REQUEST",
        lambda: vending.top_up_float(
            actor=world.admin, vending_point=bank, amount=world.money("9.00"), reference="DEP-001"
        ),
    )


def test_a_chain_of_replacements_cannot_add_up_past_the_transfer_limit(world: World) -> None:
    """Found in review: three 200 kWh replacements in a minute by one installer moved 600 kWh
    with no finance; transfers now add up over GRIDVEND_FREE_ISSUE_PERIOD_HOURS."""
    from gridvend.meters import services as meters_services

    agent = factories.user(world.unit, capabilities=(Capability.FIELD_AGENT,))
    current = world.add_meter()
    limit = Decimal(settings.CREDIT_TRANSFER_LIMIT_KWH)
    moved = Decimal(0)
    for serial in (99_000_011, 99_000_012, 99_000_013):
        successor = meters_services.register_meter(
            actor=world.admin,
            number=meter_number(serial),
            org_unit=world.unit,
            sgc="600675",
            ti=1,
            krn=2,
            key_ref=world.key_ref,
        )
        chunk = limit / 2
        if moved + chunk > limit:
            _refused(
                "CREDIT_TRANSFER_ABOVE_LIMIT",
                lambda s=successor, c=current: vending.replace_meter(
                    actor=agent, old_meter=c, new_meter=s, reason="burnt", remaining_kwh=chunk
                ),
            )
            break
        vending.replace_meter(
            actor=agent, old_meter=current, new_meter=successor, reason="burnt", remaining_kwh=chunk
        )
        moved += chunk
        current = successor
    assert moved == limit
