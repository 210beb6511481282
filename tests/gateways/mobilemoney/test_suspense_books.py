"""Mobile-money suspense on the books: a payment that cannot be sold is booked from the
paybill's clearing account to its suspense account; sold later by customer care or refunded,
it is released; `gridvend ledger reconcile` and `gridvend verify` prove the suspense account
equals the open suspense payments. Figures are worked out here from the payments' amounts."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from gridvend.ledger.models import JournalEntry, Posting
from gridvend.ledger.selectors import account_balance
from gridvend.ledger.services import today
from gridvend.meters import services as meters
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import MobilePayment, PaymentState
from gridvend.mobilemoney.services.suspense import suspense_findings
from gridvend.vending.models import Sale
from tests.gateways.mobilemoney.conftest import Paybill, confirmation

pytestmark = pytest.mark.django_db

SUSPENSE = "mobile-suspense:mpesa"
CLEARING = "mobile-clearing:mpesa"


def reconciles() -> bool:
    try:
        call_command("ledger", "reconcile")
    except CommandError:
        return False
    return True


def test_suspense_is_booked_then_released_into_the_sale_and_against_the_refund(
    paybill: Paybill,
) -> None:
    meter = paybill.world.add_meter()
    float_code = paybill.partner.float_account
    float_before = account_balance(float_code)

    paybill.post("c2b-confirmation", confirmation("RSUS000001", "NOSUCH1", "300"))
    paybill.post("c2b-confirmation", confirmation("RSUS000002", "NOSUCH2", "250"))
    # The same confirmation again books nothing more.
    paybill.post("c2b-confirmation", confirmation("RSUS000001", "NOSUCH1", "300"))
    first = MobilePayment.objects.get(trans_id="RSUS000001")
    second = MobilePayment.objects.get(trans_id="RSUS000002")
    assert first.state == second.state == PaymentState.SUSPENSE
    # 300.00 + 250.00 owed to customers, held at the provider.
    assert account_balance(SUSPENSE) == -(30000 + 25000)
    assert account_balance(CLEARING) == 30000 + 25000
    assert account_balance(float_code) == float_before  # nothing sold from the float
    assert first.suspense_entry_id is not None
    entry = JournalEntry.objects.get(pk=first.suspense_entry_id)
    assert entry.kind == "mobile.suspense"
    assert sorted(entry.postings.values_list("account__code", "amount_minor")) == [
        (CLEARING, 30000),
        (SUSPENSE, -30000),
    ]
    assert reconciles() and suspense_findings() == []

    # Customer care sells the first to the right meter: out of suspense, into the sale, which
    # draws the partner's float as any paybill sale does.
    sold = services.resolve_by_sale(
        actor=paybill.care, payment=first, meter_number=meter.number, note="one digit wrong"
    )
    assert sold.state == PaymentState.SOLD and sold.release_entry is not None
    assert account_balance(SUSPENSE) == -25000 and account_balance(CLEARING) == 25000
    assert account_balance(float_code) == float_before + 30000
    assert Sale.objects.get(meter=meter).tender_minor == 30000
    assert reconciles()

    # The second is refunded (paid back by hand, reference recorded on approval).
    asked = services.request_payment_refund(
        actor=paybill.care, payment=second, reason="paid the wrong paybill"
    )
    assert account_balance(SUSPENSE) == -25000  # a pending refund still owes the customer
    assert reconciles()
    refunded = services.approve_payment_refund(
        actor=paybill.finance, request=asked, refund_reference="B2C7788"
    )
    assert refunded.state == PaymentState.REFUNDED
    assert refunded.release_entry_id is not None
    release = JournalEntry.objects.get(pk=refunded.release_entry_id)
    assert release.kind == "mobile.suspense_refunded"
    assert account_balance(SUSPENSE) == 0 and account_balance(CLEARING) == 0
    assert reconciles()
    call_command("verify", "--no-checkpoint")


def test_a_refused_resolution_books_the_suspense_once(paybill: Paybill) -> None:
    paybill.post("c2b-confirmation", confirmation("RSUS000003", "NOSUCH3", "400"))
    payment = MobilePayment.objects.get()
    blocked = paybill.world.add_meter()
    meters.block_meter(actor=paybill.world.admin, meter=blocked, reason="tamper")
    again = services.resolve_by_sale(
        actor=paybill.care, payment=payment, meter_number=blocked.number, note="try"
    )
    assert again.state == PaymentState.SUSPENSE and again.suspense_code == "METER_BLOCKED"
    assert account_balance(SUSPENSE) == -40000
    assert Posting.objects.filter(account__code=SUSPENSE).count() == 1
    assert reconciles()


def test_the_reconciliation_finds_a_suspense_payment_moved_outside_the_services(
    paybill: Paybill,
) -> None:
    paybill.post("c2b-confirmation", confirmation("RSUS000004", "NOSUCH4", "150"))
    MobilePayment.objects.update(state=PaymentState.REFUNDED)  # no release posted
    assert not reconciles()
    findings = suspense_findings()
    assert any("holds 15000, the open suspense payments sum to 0" in f for f in findings)
    assert any("is refunded but still in suspense" in f for f in findings)
    with pytest.raises(CommandError):
        call_command("verify", "--no-checkpoint")


def test_the_migration_books_suspense_payments_recorded_before_it(paybill: Paybill) -> None:
    # As an older gridvend left them: in suspense, nothing on the books (rows written as that
    # version wrote them), beside one of today's, already booked.
    paybill.post("c2b-confirmation", confirmation("RSUS000005", "NOSUCH5", "70"))
    for trans_id, minor in (("ROLD000001", 12000), ("ROLD000002", 8000)):
        MobilePayment.objects.create(
            provider=paybill.provider,
            trans_id=trans_id,
            request_id=trans_id,
            source="confirmation",
            bill_ref="NOSUCH",
            account_ref="NOSUCH",
            amount_text=str(minor // 100),
            amount_minor=minor,
            currency=paybill.partner.currency,
            business_date=today(),
            state=PaymentState.SUSPENSE,
            suspense_code="MOBILE_ACCOUNT_UNKNOWN",
        )
    findings = suspense_findings()
    assert any("holds 7000, the open suspense payments sum to 27000" in f for f in findings)
    assert sum("not booked" in f for f in findings) == 2

    migration = importlib.import_module(
        "gridvend.mobilemoney.migrations.0002_books_reversals_cashier"
    )
    migration.book_open_suspense(apps, None)
    assert suspense_findings() == [] and reconciles()
    assert account_balance(SUSPENSE) == -(7000 + 12000 + 8000)
    migration.book_open_suspense(apps, None)  # run again: nothing more
    assert account_balance(SUSPENSE) == -27000
