"""A reversal takes its locks in the order a sale does (issue 11 review): a sale share-locks its
shift in its one read and posts to its float last; a reversal of a float sale used to post first
(locking the float's row) and lock the shift after, so a sale and a reversal in one float
agent's shift could wait for each other: PostgreSQL killed one with "deadlock detected", a raw
database error where a refusal or a sale was due."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.money import Money
from gridvend.org import services as org
from gridvend.vending import services as vending
from gridvend.vending.models import SaleStatus
from gridvend.vending.services import credit as credit_service
from gridvend.vending.services import reversals as reversal_service
from gridvend.vending.shifts import open_shift
from tests import factories
from tests.threads import run_threads
from tests.world import build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_sale_and_a_reversal_in_one_float_shift_do_not_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = build_world()
    point = org.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Agent Float", channel="agent"
    )
    point.uses_float = True
    point.save(update_fields=["uses_float"])
    tender = world.money("300.00")
    vending.top_up_float(
        actor=world.supervisor,
        vending_point=point,
        amount=Money(tender.minor * 10, tender.currency),
        reference="dep",
    )
    cashier = factories.user(world.unit, Role.OPERATOR, (Capability.CASHIER,))
    open_shift(actor=cashier, vending_point=point, opening_float=world.money("0"))
    first_meter, second_meter = world.add_meter(), world.add_meter()
    first = vending.vend_credit(
        actor=cashier,
        vending_point=point,
        client_reference="s1",
        meter_number=first_meter.number,
        tender=tender,
        clock=SystemClock(),
    ).sale
    finance = factories.user(world.unit, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))

    # The sale stops after its read (shift held) until the reversal has posted (float held),
    # or until a short wait runs out: with the locks in one order the reversal waits for the
    # shift instead, never posts, and the sale goes on after the wait.
    sale_holds_shift = threading.Event()
    reversal_posted = threading.Event()
    seller: dict[str, int] = {}
    check_quote = credit_service._check_quote
    rebill = reversal_service._rebill_fixed_charges

    def held_check_quote(*args: Any, **kwargs: Any) -> None:
        if threading.get_ident() == seller.get("thread"):
            sale_holds_shift.set()
            reversal_posted.wait(3)
        check_quote(*args, **kwargs)

    def marked_rebill(*args: Any, **kwargs: Any) -> None:
        reversal_posted.set()
        rebill(*args, **kwargs)

    monkeypatch.setattr(credit_service, "_check_quote", held_check_quote)
    monkeypatch.setattr(reversal_service, "_rebill_fixed_charges", marked_rebill)

    def work(i: int) -> Any:
        if i == 0:
            seller["thread"] = threading.get_ident()
            return vending.vend_credit(
                actor=cashier,
                vending_point=point,
                client_reference="s2",
                meter_number=second_meter.number,
                tender=tender,
                clock=SystemClock(),
            )
        sale_holds_shift.wait(10)
        return vending.reverse_sale(actor=finance, sale=first, reason="refund")

    results, errors = run_threads(2, work)
    assert errors == [], [f"{type(e).__name__}: {e}" for e in errors]
    sold, reversal = results
    assert sold.sale.status == SaleStatus.COMPLETED
    assert reversal.sale.pk == first.pk
    first.refresh_from_db()
    assert first.status == SaleStatus.REVERSED
    assert vending.float_available(point, tender.currency) == Money(
        tender.minor * 9, tender.currency
    )
