"""The cashier screen's bill-payment mode: the account's amount due and open bills, cash taken in
the open shift (a double submit is one payment), the receipt, and the shift's Z report counting
bill payments apart from token sales, with the drawer expecting their cash."""

from __future__ import annotations

import re

import pytest

from gridvend.billing.models import Bill, BillPayment, BillStatus
from gridvend.vending.selectors import current_shift, expected_takings
from tests.billing.conftest import Scene
from tests.billing.test_payments import A_BILL
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def test_a_cashier_takes_cash_for_a_bill_and_the_z_report_counts_it_apart(scene: Scene) -> None:
    scene.billed()
    cashier = scene.world.cashier
    shift = current_shift(cashier)
    assert shift is not None
    cash_before = expected_takings(shift)["cash"]
    client = signed_in(cashier)
    number = scene.customer(scene.a).account_number
    page = client.get(f"/cashier/bills/?account={number}").content.decode()
    assert "4408.00" in page and 'id="take-payment"' in page
    reference = re.search(r'name="client_reference" value="([0-9a-f]+)"', page)
    assert reference is not None
    body = {"client_reference": reference.group(1), "amount": "4500.00"}
    first = client.post(f"/cashier/bills/?account={number}", body)
    again = client.post(f"/cashier/bills/?account={number}", body)
    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    payment = BillPayment.objects.get()
    assert (payment.amount_minor, payment.shift_id, payment.credit_minor) == (
        450000,
        shift.pk,
        9200,
    )
    assert Bill.objects.get(customer=scene.customer(scene.a)).status == BillStatus.PAID
    receipt = client.get(first["Location"]).content.decode()
    assert "4500.00" in receipt and "92.00" in receipt
    assert expected_takings(shift)["cash"] == cash_before + 450000
    report = signed_in(scene.world.supervisor).get(f"/receipts/shifts/{shift.pk}/")
    text = report.content.decode()
    assert report.status_code == 200 and 'id="bill-payments"' in text
    assert "KES 4,500.00" in text


def test_a_prepaid_only_account_is_refused_at_the_till(scene: Scene) -> None:
    client = signed_in(scene.world.cashier)
    number = scene.customer(scene.prepaid).account_number
    page = client.get(f"/cashier/bills/?account={number}").content.decode()
    assert 'id="bill-error"' in page and 'id="take-payment"' not in page
    assert A_BILL and not BillPayment.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-1", "1e9", "12.345", "abc", "9" * 40])
def test_a_hostile_amount_takes_nothing(scene: Scene, amount: str) -> None:
    scene.billed()
    client = signed_in(scene.world.cashier)
    number = scene.customer(scene.a).account_number
    response = client.post(
        f"/cashier/bills/?account={number}", {"client_reference": "abc123", "amount": amount}
    )
    assert response.status_code == 400 and not BillPayment.objects.exists()


def test_a_refused_payment_is_offered_again_under_a_fresh_reference(scene: Scene) -> None:
    """A refusal books nothing; the re-rendered form carries a new hidden reference, so the
    corrected amount is not refused PAYMENT_REFERENCE_REUSED again and again."""
    scene.billed()
    client = signed_in(scene.world.cashier)
    number = scene.customer(scene.a).account_number
    url = f"/cashier/bills/?account={number}"
    assert client.post(url, {"client_reference": "ref1", "amount": "100.00"}).status_code == 302
    refused = client.post(url, {"client_reference": "ref1", "amount": "200.00"})
    page = refused.content.decode()
    assert refused.status_code == 400 and "ref1" in page  # the message names the old one
    fresh = re.search(r'name="client_reference" value="([0-9a-f]+)"', page)
    assert fresh is not None and fresh.group(1) != "ref1"
    assert BillPayment.objects.count() == 1
    again = client.post(url, {"client_reference": fresh.group(1), "amount": "200.00"})
    assert again.status_code == 302
    assert sorted(BillPayment.objects.values_list("amount_minor", flat=True)) == [10000, 20000]
