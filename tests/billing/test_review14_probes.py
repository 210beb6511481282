"""Review 14 probes on billing: an estimate corrected by a lower actual, and a "both" account's
arrears paid directly while its debt stands."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from gridvend.billing import services
from gridvend.billing.models import Bill
from gridvend.customers import services as customers
from gridvend.customers.models import AccountKind, Debt
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.readings import services as readings
from gridvend.readings.estimates import estimate_book
from gridvend.vending import services as vending
from tests import factories
from tests.billing.conftest import Scene
from tests.billing.test_payments import B_BILL, pay

pytestmark = pytest.mark.django_db


def test_an_actual_reading_below_last_months_estimate_is_not_billed_as_a_roll_over(
    scene: Scene,
) -> None:
    world = scene.world
    supervisor = factories.user(
        world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    meter = world.add_meter(name="Estimated M")
    customers.update_customer(
        actor=world.admin, customer=world.customer(meter), account_kind=AccountKind.POSTPAID
    )
    meter.refresh_from_db()
    readings.add_book_meter(actor=supervisor, book=scene.book, meter=meter)
    # About 1 kWh a day for two months, then no reading in the previous cycle.
    scene.read(meter, scene.start - timedelta(days=95), "400")
    scene.read(meter, scene.start - timedelta(days=65), "430")
    scene.read(meter, scene.start - timedelta(days=35), "460")
    previous_end = scene.start - timedelta(days=1)
    done = estimate_book(actor=supervisor, book=scene.book, on=previous_end)
    [estimate] = [e for e in done.estimated if e.meter_id == meter.pk]
    assert estimate.register_kwh > Decimal("490")
    first = services.preview_run(
        actor=scene.finance,
        book=scene.book,
        period_start=previous_end - timedelta(days=29),
        period_end=previous_end,
    )
    scene.post(first)
    assert Bill.objects.get(run=first, meter=meter).is_estimated
    # The real reading this cycle is a little below the estimate (the customer used less).
    scene.read(meter, scene.end - timedelta(days=2), "490")
    run = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    bill = Bill.objects.get(run=run, meter=meter)
    # Expected: zero (or a credit of the over-estimate), never ten to the register's digits.
    assert bill.consumption_kwh < Decimal("100"), (bill.consumption_kwh, bill.amount_minor)


def test_a_both_accounts_arrears_paid_at_the_bank_are_not_recovered_again_by_tokens(
    scene: Scene,
) -> None:
    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None and debt.balance_minor == B_BILL
    # The customer pays the whole bill at the bank.
    pay(scene, scene.b, B_BILL, "bank-both-1")
    # ... then buys tokens: nothing is owed any more, so nothing should be recovered.
    sale = vending.vend_credit(
        actor=scene.world.cashier,
        vending_point=scene.world.point,
        client_reference="both-after-pay",
        meter_number=scene.b.number,
        tender=scene.world.money("1000.00"),
        clock=SystemClock(),
    )
    assert sale.sale.breakdown is not None
    debt.refresh_from_db()
    assert sale.sale.breakdown["debt_recovered_minor"] == 0, (
        "recovered a debt already paid at the bank",
        debt.balance_minor,
        Debt.objects.filter(customer=customer).count(),
    )


def test_the_person_who_prepared_and_adjusted_a_run_may_not_approve_its_posting(
    scene: Scene,
) -> None:
    from gridvend.kernel.errors import DomainError

    run = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    bill = Bill.objects.get(run=run, customer=scene.customer(scene.a))
    # The preparer credits a bill, then a colleague merely sends the run for approval ...
    services.adjust_bill(actor=scene.finance, bill=bill, label="goodwill", amount_minor=-400000)
    decision = services.request_posting(actor=scene.checker, run=run)
    # ... and the preparer approves their own work: four eyes became two.
    with pytest.raises(DomainError):
        services.approve_run_decision(actor=scene.finance, decision=decision)


def test_cancelling_a_run_takes_back_the_arrears_it_handed_to_the_prepaid_side(
    scene: Scene,
) -> None:
    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None
    decision = services.request_cancellation(actor=scene.finance, run=run, reason="wrong tariff")
    services.approve_run_decision(actor=scene.checker, decision=decision)
    # The bill is gone; the debt it became should be too.
    debt.refresh_from_db()
    assert debt.balance_minor == 0, ("a cancelled bill is still recovered from tokens", debt)
