"""An account of kind "both": its postpaid arrears become a debt its token purchases recover
through the tariff's debt-recovery rule, and what a sale recovered pays the bills; the bills, the
debt and the books agree to the cent."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from gridvend.audit.models import AuditEvent
from gridvend.billing import selectors, services
from gridvend.billing.models import Bill, BillPayment
from gridvend.customers.models import Debt
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.ledger.selectors import account_balance, unbalanced_entries
from gridvend.vending import services as vending
from tests import factories
from tests.billing.conftest import Scene
from tests.billing.test_payments import B_BILL
from tests.signin import signed_in

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
    # The debt, its entry and the sale's recovery pass gridvend verify's checks.
    from gridvend.vending.integrity.books import verify_debts, verify_journal_entries

    assert verify_debts().problems == [] and verify_journal_entries().problems == []


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


def test_finance_hands_the_arrears_over_on_the_account_screen_and_a_sale_moves_both_sides(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = scene.billed()
    customer = scene.customer(scene.b)
    page = f"/billing/accounts/{customer.pk}/"
    # Before the due date nothing is in arrears: no button, nothing to hand over.
    finance = signed_in(scene.finance)
    assert "Hand over the arrears" not in finance.get(page).content.decode()
    # The business day moves past the due date: the whole bill is in arrears.
    later = run.due_date + timedelta(days=1)
    monkeypatch.setattr(services, "business_today", lambda: later)
    shown = finance.get(page).content.decode()
    assert "Hand over the arrears" in shown and "591.60" in shown
    # An auditor reads the screen but may not act; without the confirmation nothing moves.
    auditor = factories.user(
        scene.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.AUDITOR,)
    )
    assert signed_in(auditor).post(page, {"confirm": "on"}).status_code == 403
    assert finance.post(page, {}).status_code == 200
    assert not Debt.objects.filter(source="billing").exists()
    assert finance.post(page, {"confirm": "on"}).status_code == 302
    # A second confirmation (a double submit) finds nothing new to hand over.
    assert finance.post(page, {"confirm": "on"}).status_code == 302
    [debt] = Debt.objects.filter(customer=customer, source="billing")
    assert debt.original_minor == debt.balance_minor == B_BILL and debt.opened_by == scene.finance
    assert AuditEvent.objects.filter(event_type="debt.opened", target_id=str(debt.pk)).count() == 1
    assert "Hand over the arrears" not in finance.get(page).content.decode()
    arrears_before = selectors.account_due(
        scene.finance, customer.account_number, today=later
    ).arrears_minor
    # A prepaid sale of 400.00 recovers the tariff's 25 %, 100.00: on the debt at once, on the
    # bill when the quarter-hour job applies it.
    vending.vend_credit(
        actor=scene.world.cashier,
        vending_point=scene.world.point,
        client_reference="both-screen-1",
        meter_number=scene.b.number,
        tender=scene.world.money("400.00"),
        clock=SystemClock(),
    )
    assert services.recoveries_job() == 1
    recovered = 10000
    debt.refresh_from_db()
    arrears_after = selectors.account_due(
        scene.finance, customer.account_number, today=later
    ).arrears_minor
    assert arrears_before - arrears_after == recovered
    assert debt.original_minor - debt.balance_minor == recovered
    assert account_balance(services.receivable_code(customer)) == B_BILL - recovered
    assert account_balance(f"debt:{customer.account_number}") == B_BILL - recovered
    out = StringIO()
    call_command("ledger", "reconcile", stdout=out)
    assert "ledger reconciles" in out.getvalue() and unbalanced_entries() == []


def test_the_account_screen_offers_no_handover_for_a_postpaid_only_account(scene: Scene) -> None:
    scene.billed()
    finance = signed_in(scene.finance)
    page = f"/billing/accounts/{scene.customer(scene.a).pk}/"
    shown = finance.get(page).content.decode()
    assert "4408.00" in shown and "Hand over the arrears" not in shown
    assert finance.post(page, {"confirm": "on"}).status_code == 200  # refused beside the form
    assert not Debt.objects.exists()
    prepaid = f"/billing/accounts/{scene.customer(scene.prepaid).pk}/"
    assert finance.get(prepaid).status_code == 404


def test_a_both_accounts_arrears_paid_at_the_bank_are_not_recovered_again_by_tokens(
    scene: Scene,
) -> None:
    from gridvend.vending.integrity.books import verify_debts, verify_journal_entries
    from tests.billing.test_payments import pay

    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None and debt.balance_minor == B_BILL
    # The customer pays the whole bill at the bank: the debt is settled in the same entry.
    payment = pay(scene, scene.b, B_BILL, "bank-both-1")
    debt.refresh_from_db()
    assert payment.debt_settled_minor == B_BILL
    assert (debt.balance_minor, debt.settled_minor) == (0, B_BILL)
    assert account_balance(f"debt:{customer.account_number}") == 0
    assert account_balance(services.ARREARS_CLEARING) == 0
    # ... then buys tokens: nothing is owed any more, so nothing is recovered or applied.
    sale = vending.vend_credit(
        actor=scene.world.cashier,
        vending_point=scene.world.point,
        client_reference="both-after-pay",
        meter_number=scene.b.number,
        tender=scene.world.money("1000.00"),
        clock=SystemClock(),
    )
    assert sale.sale.breakdown is not None
    assert sale.sale.breakdown["debt_recovered_minor"] == 0
    assert services.apply_recoveries(actor=None, customer=customer) is None
    assert verify_debts().problems == [] and verify_journal_entries().problems == []
    # A cancel of that payment the same day gives the debt back, both sides.
    services.cancel_payment(actor=scene.finance, payment=payment, reason="wrong account")
    debt.refresh_from_db()
    assert (debt.balance_minor, debt.settled_minor) == (B_BILL, 0)
    assert account_balance(f"debt:{customer.account_number}") == B_BILL
    assert unbalanced_entries() == [] and verify_debts().problems == []


def test_part_of_a_both_accounts_arrears_paid_directly_lowers_its_debt_by_that_part(
    scene: Scene,
) -> None:
    from tests.billing.test_payments import pay

    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None
    pay(scene, scene.b, 10000, "bank-both-part")
    debt.refresh_from_db()
    bill = Bill.objects.get(run=run, customer=customer)
    # The debt never holds more than the bill still owes.
    assert debt.balance_minor == bill.owed_minor == B_BILL - 10000


def test_cancelling_a_run_takes_back_the_arrears_it_handed_to_the_prepaid_side(
    scene: Scene,
) -> None:
    from gridvend.vending.integrity.books import verify_debts, verify_journal_entries

    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    debt = services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)
    assert debt is not None
    decision = services.request_cancellation(actor=scene.finance, run=run, reason="wrong tariff")
    services.approve_run_decision(actor=scene.checker, decision=decision)
    # The bill is gone; the debt it became is released too, in the books as well.
    debt.refresh_from_db()
    assert (debt.balance_minor, debt.settled_minor) == (0, B_BILL)
    assert account_balance(f"debt:{customer.account_number}") == 0
    assert account_balance(services.ARREARS_CLEARING) == 0
    assert Bill.objects.get(run=run, customer=customer).debt_release_entry_id is not None
    assert unbalanced_entries() == []
    assert verify_debts().problems == [] and verify_journal_entries().problems == []
