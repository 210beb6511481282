"""Scoped reads: customer search in a fixed number of queries, meter lookup by number, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gridvend.customers import selectors as customers
from gridvend.customers import services as customer_services
from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError, MeterNotFound
from gridvend.kernel.money import Money
from gridvend.kernel.tokens import MeterKeyRef
from gridvend.meters import selectors as meters
from gridvend.meters import services as meter_services
from tests.masterdata import factories as md
from tests.masterdata.conftest import World

pytestmark = pytest.mark.django_db


def _numbers(queryset: Any) -> list[str]:
    return [c.account_number for c in queryset]


def test_list_customers_searches_every_identifier(world: World) -> None:
    unit = world.tree.north_sc
    amina = md.customer(
        org_unit=unit, name="Amina Otieno", account_number="1000000017", phone="+254700111222"
    )
    brian = md.customer(
        org_unit=unit, name="Brian Mwangi", account_number="2000000015", national_id="ID-998877"
    )
    metered = md.meter(customer=brian)
    md.customer(org_unit=world.tree.south_sc, name="Amina South", account_number="1000000025")
    actor = world.care

    assert _numbers(customers.list_customers(actor, search="1000000017")) == ["1000000017"]
    assert _numbers(customers.list_customers(actor, search="10000")) == ["1000000017"]
    assert _numbers(customers.list_customers(actor, search="amina")) == [amina.account_number]
    assert _numbers(customers.list_customers(actor, search="0700 111 222")) == ["1000000017"]
    assert _numbers(customers.list_customers(actor, search="111222")) == ["1000000017"]
    assert _numbers(customers.list_customers(actor, search="id-998877")) == ["2000000015"]
    spaced = f"{metered.number[:4]} {metered.number[4:8]}-{metered.number[8:]}"
    assert _numbers(customers.list_customers(actor, search=spaced)) == ["2000000015"]
    assert _numbers(customers.list_customers(actor)) == ["1000000017", "2000000015"]
    assert _numbers(customers.list_customers(world.tree.admin)) == [
        "1000000017",
        "1000000025",
        "2000000015",
    ]


def test_list_customers_filters_by_category_status_and_unit(world: World) -> None:
    md.customer(org_unit=world.tree.north_sc, account_number="A1")
    shop = md.customer(org_unit=world.tree.north_bu, account_number="A2", category="commercial")
    customer_services.set_customer_status(
        actor=world.care, customer=shop, status="suspended", reason="x"
    )
    actor = world.care
    assert _numbers(customers.list_customers(actor, category="commercial")) == ["A2"]
    assert _numbers(customers.list_customers(actor, status="active")) == ["A1"]
    assert _numbers(customers.list_customers(actor, unit=world.tree.north_sc)) == ["A1"]
    with pytest.raises(NotFound):
        customers.list_customers(actor, unit=world.tree.south)


@pytest.mark.parametrize("count", [3, 30])
def test_list_customers_uses_the_same_number_of_queries_for_any_size(
    world: World, count: int, django_assert_num_queries: Callable[..., Any]
) -> None:
    for _ in range(count):
        md.meter(customer=md.customer(org_unit=world.tree.north_sc))
    actor = world.care
    actor.org_unit  # loaded once per request by authentication, not by the selector
    # One query for the customers with their unit and tariff, one for all their meters.
    with django_assert_num_queries(2):
        rows = [
            (
                c.account_number,
                c.org_unit.name,
                c.tariff.currency,
                [m.number for m in c.meters.all()],
            )
            for c in customers.list_customers(actor, search="")
        ]
    assert len(rows) == count
    assert all(len(meters_) == 1 for *_, meters_ in rows)


def test_get_customer_and_by_account_are_scoped(world: World) -> None:
    north = md.customer(org_unit=world.tree.north_sc, account_number="N-1")
    south = md.customer(org_unit=world.tree.south_sc, account_number="S-1")
    assert customers.get_customer(world.care, north.pk) == north
    assert customers.get_customer_by_account(world.care, " n-1 ") == north
    with pytest.raises(NotFound):
        customers.get_customer(world.care, south.pk)
    with pytest.raises(NotFound):
        customers.get_customer_by_account(world.care, "S-1")
    with pytest.raises(NotFound):
        customers.get_customer_by_account(world.care, "nobody")


def test_premise_reads_are_scoped(world: World) -> None:
    home = md.premise(org_unit=world.tree.north_sc, address="7 Moi Avenue", feeder="F12")
    south = md.premise(org_unit=world.tree.south_sc, address="9 Moi Avenue")
    assert list(customers.list_premises(world.care, search="moi")) == [home]
    assert list(customers.list_premises(world.care, search="f12")) == [home]
    assert customers.get_premise(world.care, home.pk) == home
    with pytest.raises(NotFound):
        customers.get_premise(world.care, south.pk)


def test_debts_and_debt_balance(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    assert customers.debt_balance(customer) == Money(0, "KES")
    first = customer_services.open_debt(
        actor=world.finance, customer=customer, amount=Money(1000, "KES"), reason="a"
    )
    second = customer_services.open_debt(
        actor=world.finance, customer=customer, amount=Money(2500, "KES"), reason="b"
    )
    assert list(customers.list_debts(world.care, customer)) == [first, second]
    assert customers.debt_balance(customer) == Money(3500, "KES")
    with pytest.raises(NotFound):
        customers.list_debts(world.care_south, customer)


def test_find_meter_accepts_spaces_and_dashes(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    meter = md.meter(customer=customer)
    typed = f" {meter.number[:4]} {meter.number[4:8]}-{meter.number[8:]} "
    found = meters.find_meter(world.cashier, typed)
    assert found == meter
    assert found.customer == customer and found.org_unit == world.tree.north_sc


def test_find_meter_loads_customer_premise_and_unit_in_one_query(
    world: World, django_assert_num_queries: Callable[..., Any]
) -> None:
    meter = md.meter(customer=md.customer(org_unit=world.tree.north_sc))
    actor = world.cashier
    actor.org_unit  # loaded by authentication
    with django_assert_num_queries(1):
        found = meters.find_meter(actor, meter.number)
        assert found.customer is not None and found.premise is not None
        loaded = (found.customer.tariff.currency, found.premise.address, found.org_unit.name)
    assert loaded[0] == "KES" and loaded[2] == world.tree.north_sc.name


@pytest.mark.parametrize("typed", ["unknown", "04 0000 0000", "abc", ""])
def test_find_meter_raises_meter_not_found(world: World, typed: str) -> None:
    if typed == "unknown":
        typed = md.meter_number(99_999_999)
    with pytest.raises(MeterNotFound) as exc:
        meters.find_meter(world.cashier, typed)
    assert exc.value.code == "METER_NOT_FOUND"


def test_another_regions_meter_is_not_found_by_number(world: World) -> None:
    south = md.meter(org_unit=world.tree.south_sc)
    with pytest.raises(DomainError) as exc:
        meters.find_meter(world.cashier, south.number)
    assert exc.value.code == "METER_NOT_FOUND"
    assert not isinstance(exc.value, NotFound)
    assert meters.find_meter(world.care_south, south.number) == south


def test_list_and_get_meters_are_scoped(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc, name="Zawadi", account_number="Z-1")
    installed = md.meter(customer=customer)
    spare = md.meter(org_unit=world.tree.north_bu)
    south = md.meter(org_unit=world.tree.south_sc)
    meter_services.block_meter(actor=world.care, meter=spare, reason="x")
    actor = world.care
    assert set(meters.list_meters(actor)) == {installed, spare}
    assert list(meters.list_meters(actor, search="zawadi")) == [installed]
    assert list(meters.list_meters(actor, search="z-1")) == [installed]
    assert list(meters.list_meters(actor, search=installed.number[:-1])) == [installed]
    assert list(meters.list_meters(actor, status="blocked")) == [spare]
    assert list(meters.list_meters(actor, unit=world.tree.north_sc)) == [installed]
    with pytest.raises(NotFound):
        meters.list_meters(actor, unit=world.tree.south_sc)
    assert meters.get_meter(actor, installed.pk) == installed
    with pytest.raises(NotFound):
        meters.get_meter(actor, south.pk)
    with pytest.raises(NotFound):
        meters.installation_history(actor, south)


def test_meter_key_ref_is_the_kernel_view_of_the_meter(world: World) -> None:
    meter = md.meter(org_unit=world.tree.north_sc, sgc="600675", ti=7, krn=2, ken=200)
    assert meters.meter_key_ref(meter) == MeterKeyRef(
        meter_number=meter.number,
        sgc="600675",
        ti=7,
        krn=2,
        kt=2,
        ken=200,
        ea="07",
        dkga="02",
        base_date_year=2014,
        key_ref="test-vk",
    )
    assert meters.pending_key_change(meter) is None
