"""An account of kind "both": its postpaid arrears become a debt its token purchases recover
through the tariff's debt-recovery rule, and what a sale recovered pays the bills; the bills, the
debt and the books agree to the cent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.billing import selectors, services
from gridvend.billing.models import Bill, BillPayment
from gridvend.customers.models import Debt
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.ledger.selectors import account_balance, unbalanced_entries
from gridvend.vending import services as vending
from tests.billing.conftest import Scene
from tests.billing.test_payments import B_BILL

pytestmark = pytest.mark.django_db


def test_a_both_accounts_arrears_are_recovered_by_a_prepaid_sale(scene: Scene) -> None:
    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None and (debt.original_minor, debt.source) == (B_BILL, "billing")
    # A second transfer finds nothing new to hand over.
    assert (
        services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
        is None
    )
    sale = vending.vend_credit(
        actor=scene.world.cashier,
        vending_point=scene.world.point,
        client_reference="both-1",
        meter_number=scene.b.number,
        tender=scene.world.money("1000.00"),
        clock=SystemClock(),
    )
    # The tariff recovers 25 % of a tender: 250.00 of the 1,000.00.
    assert sale.sale.breakdown is not None
    assert sale.sale.breakdown["debt_recovered_minor"] == 25000
    payment = services.apply_recoveries(actor=None, customer=customer)
    assert payment is not None and payment.amount_minor == 25000
    assert services.apply_recoveries(actor=None, customer=customer) is None
    bill = Bill.objects.get(run=run, customer=customer)
    debt.refresh_from_db()
    assert bill.paid_minor == 25000 and debt.balance_minor == B_BILL - 25000
    # Both sides, to the cent: the receivable and the debt each owe what is left.
    assert account_balance(services.receivable_code(customer)) == B_BILL - 25000
    assert account_balance(f"debt:{customer.account_number}") == B_BILL - 25000
    assert account_balance(services.ARREARS_CLEARING) == -(B_BILL - 25000)
    due = selectors.account_due(scene.finance, customer.account_number, today=later)
    assert due.total_due_minor == B_BILL - 25000
    assert BillPayment.objects.filter(channel=services.RECOVERY_CHANNEL).count() == 1
    assert unbalanced_entries() == []


def test_a_postpaid_only_account_has_no_prepaid_side_to_recover_from(scene: Scene) -> None:
    run = scene.billed()
    with pytest.raises(DomainError) as caught:
        services.transfer_arrears_to_debt(
            actor=scene.finance,
            customer=scene.customer(scene.a),
            today=run.due_date + timedelta(days=1),
        )
    assert caught.value.code == "ACCOUNT_NOT_PREPAID_LINKED"
    assert not Debt.objects.filter(source="billing").exists()
