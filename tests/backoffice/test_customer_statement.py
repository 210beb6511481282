"""The customer statement: every sale, reversal and debt movement in order, with the debt owed
after each, agreeing with the stored debts; filtered by dates; scoped; printable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from gridvend.customers import selectors as customer_selectors
from gridvend.customers import services as customers
from gridvend.customers.models import Customer, Debt
from gridvend.identity.errors import NotFound
from gridvend.meters.models import Meter
from gridvend.vending import services as vending
from gridvend.vending import statements
from gridvend.vending.models import Sale
from gridvend.vending.statements import LineKind
from tests import factories
from tests.signin import signed_in as _client
from tests.world import NOW, World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def vworld(db: None) -> World:
    return build_world()


def _history(world: World) -> tuple[Meter, Customer, list[Sale]]:
    """A debt of 200.00 a week before; two sales (25 % recovered each); the second reversed;
    a free issue."""
    meter = world.add_meter(name="Statement Customer")
    customer = world.customer(meter)
    debt = customers.open_debt(
        actor=world.supervisor, customer=customer, amount=world.money("200.00"), reason="Old bill"
    )
    Debt.objects.filter(pk=debt.pk).update(opened_at=NOW - timedelta(days=7))
    sales = []
    for ref, amount in (("s1", "400.00"), ("s2", "300.00")):
        sales.append(
            vending.vend_credit(
                actor=world.cashier,
                vending_point=world.point,
                client_reference=ref,
                meter_number=meter.number,
                tender=world.money(amount),
                clock=world.clock,
            ).sale
        )
        world.clock.advance(timedelta(minutes=5))
    vending.reverse_sale(
        actor=world.supervisor, sale=sales[1], reason="Wrong meter", clock=world.clock
    )
    world.clock.advance(timedelta(minutes=5))
    vending.issue_free_credit(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference="goodwill",
        meter_number=meter.number,
        kwh=Decimal("5"),
        reason="Outage",
        clock=world.clock,
    )
    return meter, customer, sales


def test_every_movement_in_order_with_the_debt_owed_after_each(vworld: World) -> None:
    _meter, customer, sales = _history(vworld)
    statement = statements.customer_statement(vworld.supervisor, customer)
    kinds = [line.kind for line in statement.lines]
    assert kinds == [LineKind.DEBT, LineKind.SALE, LineKind.SALE, LineKind.REVERSAL, LineKind.SALE]
    owed = [line.debt_after.minor for line in statement.lines if line.debt_after is not None]
    assert owed == [20000, 10000, 2500, 10000, 10000]
    assert statement.closing_debt == customer_selectors.debt_balance(customer)
    assert statement.total_paid == vworld.money("700.00")
    assert statement.total_refunded == vworld.money("300.00")
    assert statement.net_paid == vworld.money("400.00")
    first = statement.lines[1]
    assert first.sale == sales[0]
    assert first.paid == vworld.money("400.00")
    assert first.debt == -vworld.money("100.00")
    assert first.fbe_kwh == Decimal("50")  # this month's free basic electricity came with it
    assert first.fixed is not None and first.tax is not None and first.energy is not None
    assert first.fixed + first.tax + first.energy - first.debt == first.paid
    reversal = statement.lines[3]
    assert reversal.paid == -vworld.money("300.00") and reversal.debt == vworld.money("75.00")
    free = statement.lines[4]
    assert free.paid is None and free.kwh == Decimal("5")


def test_a_period_opens_with_what_was_owed_before_it(vworld: World) -> None:
    _meter, customer, _sales = _history(vworld)
    today = NOW.date()
    statement = statements.customer_statement(vworld.supervisor, customer, date_from=today)
    assert statement.opening_debt == vworld.money("200.00")
    assert statement.lines[0].kind == LineKind.SALE
    assert statement.closing_debt == vworld.money("100.00")
    before = statements.customer_statement(
        vworld.supervisor, customer, date_to=today - timedelta(days=1)
    )
    assert [line.kind for line in before.lines] == [LineKind.DEBT]
    assert before.closing_debt == vworld.money("200.00")
    later = statements.customer_statement(
        vworld.supervisor, customer, date_from=today + timedelta(days=1)
    )
    assert later.lines == [] and later.closing_debt == vworld.money("100.00")


def test_the_statement_is_scoped(vworld: World) -> None:
    _meter, customer, _sales = _history(vworld)
    south = factories.user(vworld.tree.south, capabilities=("finance",))
    with pytest.raises(NotFound):
        statements.customer_statement(south, customer)
    assert _client(south).get(f"/customers/{customer.pk}/statement/").status_code == 404
    cashier = _client(vworld.cashier).get(f"/customers/{customer.pk}/statement/")
    assert cashier.status_code == 403


def test_the_statement_page_links_receipts_and_prints(vworld: World) -> None:
    _meter, customer, sales = _history(vworld)
    client = _client(vworld.supervisor)
    body = client.get(f"/customers/{customer.pk}/statement/").content.decode()
    assert f"/receipts/{sales[0].reference}/thermal/?reprint=1" in body
    assert "Wrong meter" in body and "Old bill" in body
    assert 'id="closing-debt">KES 100.00<' in body
    assert "data-print" in body and "gridvend/print.js" in body
    assert "Customer statement" in body
    detail = client.get(f"/customers/{customer.pk}/").content.decode()
    assert f"/customers/{customer.pk}/statement/" in detail


def test_the_page_filters_by_dates(vworld: World) -> None:
    _meter, customer, sales = _history(vworld)
    client = _client(vworld.supervisor)
    day = NOW.date() - timedelta(days=1)
    body = client.get(f"/customers/{customer.pk}/statement/?date_to={day.isoformat()}")
    text = body.content.decode()
    assert sales[0].reference not in text and "Old bill" in text
    assert (
        client.get(
            f"/customers/{customer.pk}/statement/?date_from=2026-06-20&date_to=2026-06-01"
        ).status_code
        == 400
    )
    for bad in ("0001-01-01", "2026-02-30", "x" * 100):
        response = client.get(f"/customers/{customer.pk}/statement/?date_from={bad}")
        assert response.status_code == 400


def test_free_basic_electricity_is_counted_once(vworld: World) -> None:
    """A sale's kWh are what all its energy tokens carry, its free basic electricity included:
    the row says how much of it was free, and the total counts each kWh once."""
    _meter, customer, sales = _history(vworld)
    first = sales[0]
    assert first.fbe_kwh == Decimal("50") and first.kwh > first.fbe_kwh
    statement = statements.customer_statement(vworld.supervisor, customer)
    sold = sum((sale.kwh for sale in sales), Decimal(0))
    assert statement.total_kwh == sold + Decimal("5")  # and the free issue
    body = _client(vworld.supervisor).get(f"/customers/{customer.pk}/statement/").content.decode()
    shown = first.kwh.quantize(Decimal("0.1"))
    assert f"{shown} kWh (of which 50.0 kWh free basic electricity)" in body
    assert "and 50.0 kWh free basic electricity" not in body
    total = f"{statement.total_kwh.quantize(Decimal('0.1')):,}"
    assert f'<bdi dir="ltr">{total} kWh</bdi>' in body
