"""The fixes of the fourth review of issue 14, beyond its probes: a meter billed once per stretch
of time whatever book holds it (left out of a run with a reason, the posting checked again), an
account that owes kept postpaid, and a reversed sale's recovery taken back with the rest still
paying the bills."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridvend.billing import services
from gridvend.billing.integrity import verify_arrears_debts
from gridvend.billing.models import Bill, BillingRun, BillPayment, BillStatus, RunStatus
from gridvend.billing.services import runs
from gridvend.customers.models import AccountKind
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import SystemClock
from gridvend.kernel.errors import DomainError
from gridvend.ledger.models import JournalEntry
from gridvend.readings.models import ReadingBook
from gridvend.vending.integrity.books import verify_journal_entries
from tests import factories
from tests.billing.conftest import Scene
from tests.billing.test_payments import A_BILL, B_BILL, pay
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def _second_book(scene: Scene) -> ReadingBook:
    from gridvend.readings import services as readings

    supervisor = factories.user(
        scene.world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    readings.remove_book_meter(actor=supervisor, book=scene.book, meter=scene.a)
    other = readings.create_book(
        actor=supervisor, org_unit=scene.world.tree.north_sc, code="bill-02", name="Second",
        cycle_day=1, reader=scene.reader,
    )  # fmt: skip
    readings.add_book_meter(actor=supervisor, book=other, meter=scene.a)
    return other


def test_a_meter_with_a_draft_in_another_run_is_left_out_with_its_reason(scene: Scene) -> None:
    first = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    assert Bill.objects.filter(run=first, meter=scene.a).exists()
    other = _second_book(scene)
    second = services.preview_run(
        actor=scene.finance, book=other, period_start=scene.start, period_end=scene.end
    )
    assert not Bill.objects.filter(run=second).exists()
    assert [(e["meter"], e["problem"]) for e in second.exceptions] == [
        (scene.a.number, "pending_elsewhere")
    ]
    page = signed_in(scene.finance).get(f"/billing/runs/{second.pk}/")
    assert "Another run not yet posted has a bill for this meter" in page.content.decode()


def test_a_run_whose_meter_was_billed_meanwhile_is_refused_at_approval(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two previews racing for one meter (the preview's own check is not under a lock): the
    posting checks again under the customers' locks and refuses the second, writing nothing."""
    first = services.preview_run(
        actor=scene.finance, book=scene.book, period_start=scene.start, period_end=scene.end
    )
    other = _second_book(scene)
    with monkeypatch.context() as patched:
        patched.setattr(runs, "_billed_already", lambda *args, **kwargs: None)
        second = services.preview_run(
            actor=scene.finance, book=other, period_start=scene.start, period_end=scene.end
        )
    assert Bill.objects.filter(run=second, meter=scene.a).exists()
    scene.post(first)
    decision = services.request_posting(actor=scene.finance, run=second)
    entries = JournalEntry.objects.count()
    with pytest.raises(DomainError) as caught:
        services.approve_run_decision(actor=scene.checker, decision=decision)
    assert caught.value.code == "BILLING_RUN_STALE"
    assert JournalEntry.objects.count() == entries
    assert BillingRun.objects.get(pk=second.pk).status == RunStatus.AWAITING_APPROVAL
    owed = Bill.objects.filter(meter=scene.a, status=BillStatus.OPEN)
    assert list(owed.values_list("amount_minor", flat=True)) == [A_BILL]


def test_an_account_that_owes_stays_postpaid_or_becomes_both_and_prepaid_once_paid(
    scene: Scene,
) -> None:
    from gridvend.customers import services as customers

    scene.billed()
    customer = scene.customer(scene.a)
    with pytest.raises(DomainError) as caught:
        customers.update_customer(
            actor=scene.world.admin, customer=customer, account_kind=AccountKind.PREPAID
        )
    assert caught.value.code == "ACCOUNT_HAS_OPEN_BILLS"
    customer.refresh_from_db()
    assert customer.account_kind == AccountKind.POSTPAID
    customers.update_customer(
        actor=scene.world.admin, customer=customer, account_kind=AccountKind.BOTH
    )
    pay(scene, scene.a, A_BILL, "settled")
    customer = customers.update_customer(
        actor=scene.world.admin, customer=customer, account_kind=AccountKind.PREPAID
    )
    assert customer.account_kind == AccountKind.PREPAID


def test_a_reversed_sale_takes_back_only_its_share_of_a_recovery_payment(scene: Scene) -> None:
    """Two sales recovered 250.00 each into one recovery payment of 500.00; the first is
    reversed: the payment is taken back and 250.00 booked again, a later recovery is booked
    under a reference of its own, and the books hold together."""
    from gridvend.vending import services as vending
    from gridvend.vending.services import SaleResult

    run = scene.billed()
    customer = scene.customer(scene.b)
    later = run.due_date + timedelta(days=1)
    services.transfer_arrears_to_debt(actor=scene.finance, customer=customer, today=later)

    def sell(reference: str) -> SaleResult:
        return vending.vend_credit(
            actor=scene.world.cashier,
            vending_point=scene.world.point,
            client_reference=reference,
            meter_number=scene.b.number,
            tender=scene.world.money("1000.00"),
            clock=SystemClock(),
        )

    first = sell("both-share-1")
    sell("both-share-2")
    whole = services.apply_recoveries(actor=None, customer=customer)
    assert whole is not None and whole.amount_minor == 50000
    vending.reverse_sale(actor=scene.finance, sale=first.sale, reason="wrong meter")
    whole.refresh_from_db()
    assert whole.status == "cancelled" and whole.cancel_entry_id is not None
    received = BillPayment.objects.filter(
        customer=customer, channel="prepaid_recovery", status="received"
    )
    assert list(received.values_list("amount_minor", flat=True)) == [25000]
    bill = Bill.objects.get(run=run, customer=customer)
    assert bill.paid_minor == 25000
    sell("both-share-3")
    again = services.apply_recoveries(actor=None, customer=customer)
    assert again is not None and again.amount_minor == 25000
    assert again.source_reference.endswith("-r1")
    bill.refresh_from_db()
    assert bill.paid_minor == 50000 and bill.owed_minor == B_BILL - 50000
    assert verify_arrears_debts().problems == []
    assert verify_journal_entries().problems == []
