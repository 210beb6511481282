"""What each kind of sale costs in database statements, pinned (issue 11).

Counted outside any test transaction (``transaction=True``), so the figures are what a sale
issues in production, without the savepoints a test's own transaction would add. BEGIN and
COMMIT, which every transaction has, are not counted (Django sends them through a cursor on
SQLite only). Each test first sells once elsewhere, so that what a process reads once and
keeps (a published tariff version, a vending key) is not counted against every sale. Every
channel ends in these paths, so a statement added here is added to every sale of the utility;
if a change needs one, it must earn it and change the pin in the same commit.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridvend.audit.chain import GENESIS_HASH
from gridvend.audit.models import AuditHead
from gridvend.audit.streams import AUDIT_STREAMS
from gridvend.customers import services as customers
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.org.models import Channel
from gridvend.vending import selectors as vending_selectors
from gridvend.vending import services as vending
from gridvend.vending.models import TokenKind
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)

# The most any sale of these kinds may cost: the issue's bound.
MOST = 8
EVERYDAY_CREDIT = 8
CREDIT_WITH_FBE = 8
FBE_ALONE = 6
FREE_ISSUE = 7
ENGINEERING = 6
FLOAT_CREDIT = 8
# A customer with arrears: their debt rows are read (locked) and paid down, two more.
CREDIT_RECOVERING_DEBT = 10


@pytest.fixture
def world() -> World:
    # Every stream's head, as migrations leave them (a transactional test's flush empties the
    # table, and a head made on demand would cost its first event two more statements).
    AuditHead.objects.bulk_create(
        [
            AuditHead(id=stream, seq=0, prev_hash=GENESIS_HASH, hash=GENESIS_HASH)
            for stream in range(AUDIT_STREAMS)
        ],
        ignore_conflicts=True,
    )
    world = build_world()
    # Warm the process: the tariff version and the vending key are read once and kept.
    vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="warm-up",
        meter_number=world.add_meter().number,
        tender=world.money("500.00"),
        clock=world.clock,
    )
    return world


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def _count(action: Callable[[], Any]) -> tuple[int, list[str], Any]:
    with CaptureQueriesContext(connection) as captured:
        result = action()
    sqls = [
        q["sql"] for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)
    ]
    return len(sqls), sqls, result


def _sell(world: World, meter: Meter, ref: str, amount: str = "500.00") -> Any:
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money(amount),
        clock=world.clock,
    )


def _shown(sqls: list[str]) -> str:
    return "\n".join(f"{i}: {sql[:160]}" for i, sql in enumerate(sqls, start=1))


def test_an_everyday_credit_vend(world: World) -> None:
    meter = world.add_meter()
    _sell(world, meter, "first-of-the-month")
    count, sqls, result = _count(lambda: _sell(world, meter, "everyday"))
    assert [t.kind for t in result.tokens] == [TokenKind.CREDIT]
    assert count == EVERYDAY_CREDIT <= MOST, _shown(sqls)


def test_the_first_credit_of_the_month_with_fbe_and_the_monthly_charge(world: World) -> None:
    meter = world.add_meter()
    count, sqls, result = _count(lambda: _sell(world, meter, "first"))
    assert [t.kind for t in result.tokens] == [TokenKind.CREDIT, TokenKind.FBE]
    assert result.sale.fixed_charges_minor > 0
    assert count == CREDIT_WITH_FBE <= MOST, _shown(sqls)


def test_fbe_on_its_own(world: World) -> None:
    meter = world.add_meter()
    count, sqls, result = _count(
        lambda: vending.issue_fbe(
            actor=world.cashier,
            vending_point=world.point,
            client_reference="fbe",
            meter_number=meter.number,
            clock=world.clock,
        )
    )
    assert [t.kind for t in result.tokens] == [TokenKind.FBE]
    assert count == FBE_ALONE <= MOST, _shown(sqls)


def test_a_free_issue(world: World) -> None:
    meter = world.add_meter()
    count, sqls, result = _count(
        lambda: vending.issue_free_credit(
            actor=world.supervisor,
            vending_point=world.point,
            client_reference="free",
            meter_number=meter.number,
            kwh=Decimal("5"),
            reason="outage compensation",
            clock=world.clock,
        )
    )
    assert [t.kind for t in result.tokens] == [TokenKind.FREE_ISSUE]
    assert count == FREE_ISSUE <= MOST, _shown(sqls)


def test_an_engineering_token(world: World) -> None:
    meter = world.add_meter()
    count, sqls, result = _count(
        lambda: vending.issue_engineering_token(
            actor=world.supervisor,
            vending_point=world.point,
            client_reference="eng",
            meter_number=meter.number,
            kind="set_power_limit",
            value=3000,
            reason="load limiting",
            clock=world.clock,
        )
    )
    assert [t.kind for t in result.tokens] == [TokenKind.ENGINEERING]
    assert count == ENGINEERING <= MOST, _shown(sqls)


def test_a_credit_that_recovers_arrears(world: World) -> None:
    meter = world.add_meter()
    _sell(world, meter, "first-of-the-month")
    customers.open_debt(
        actor=world.admin,
        customer=world.customer(meter),
        amount=world.money("200.00"),
        reason="old bill",
    )
    count, sqls, result = _count(lambda: _sell(world, meter, "with-debt"))
    assert result.sale.debt_recovered_minor > 0
    assert count == CREDIT_RECOVERING_DEBT, _shown(sqls)


def test_a_sale_from_a_prefunded_float(world: World) -> None:
    bank = org.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Float Bank", channel=Channel.BANK
    )
    bank.uses_float = True
    bank.save(update_fields=["uses_float"])
    vending.top_up_float(
        actor=world.admin, vending_point=bank, amount=world.money("5000.00"), reference="fund"
    )
    meter = world.add_meter()
    _sell(world, meter, "first-of-the-month")
    count, sqls, result = _count(
        lambda: vending.vend_credit(
            actor=world.cashier,
            vending_point=bank,
            client_reference="from-float",
            meter_number=meter.number,
            tender=world.money("500.00"),
            clock=world.clock,
        )
    )
    assert result.sale.payment_method == "cash" and result.sale.vending_point_id == bank.pk
    assert vending_selectors.float_available(bank, "KES") == world.money("4500.00")
    # No shift to read; the float is checked and drawn on by its posting (a database trigger).
    assert count == FLOAT_CREDIT <= MOST, _shown(sqls)


def test_a_repeated_request_costs_its_lookup_and_sells_nothing(world: World) -> None:
    meter = world.add_meter()
    first = _sell(world, meter, "again")
    count, sqls, again = _count(lambda: _sell(world, meter, "again"))
    assert again.replayed and again.sale.pk == first.sale.pk
    assert [t.digits for t in again.tokens] == [t.digits for t in first.tokens]
    # The sale is attempted, refused by the unique reference, and the first one read back.
    assert count <= MOST + 4, _shown(sqls)
