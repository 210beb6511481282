"""Paying a postpaid bill from the wallet on the portal (issue 18 point 5): the form on the bills
page (its amount what is due), the receipt (what was paid, to which bills, the wallet after), the
wallet statement's line; a short wallet, another customer's account and a staff session write
nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from gridvend.billing.models import Bill, BillPayment
from gridvend.customers import services as customers
from gridvend.kernel.money import Money
from gridvend.logins import wallets
from gridvend.logins.models import CustomerLogin
from gridvend.meters.models import Meter
from gridvend.wallet import services as wallet_services
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance
from tests.portal.conftest import Portal
from tests.signin import signed_in
from tests.world import billed_postpaid_meter

pytestmark = pytest.mark.django_db


def _postpaid(portal: Portal, tag: str, phone: str) -> tuple[Meter, Bill]:
    world = portal.paybill.world
    _run, bill, _payment = billed_postpaid_meter(world, world.unit, tag)
    meter = bill.meter
    customers.update_customer(
        actor=world.admin, customer=world.customer(meter), phone=phone,
        email=f"{tag.lower()}@example.org",
    )  # fmt: skip
    meter.refresh_from_db()
    bill.refresh_from_db()
    return meter, bill


def _signed_up(portal: Portal, settings: Any, username: str = "zawadi") -> tuple[Client, Bill]:
    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    meter, bill = _postpaid(portal, "Zawadi", "0712 555 101")
    return portal.sign_up(meter, username), bill


def _fund(username: str, bill: Bill, major: str) -> Wallet:
    login = CustomerLogin.objects.get(username=username)
    wallet = wallets.get_wallet(login, bill.customer.account_number)
    wallet_services.credit_wallet(
        actor=None, wallet=wallet, amount=Money.from_major(major, wallet.currency),
        source="bank_transfer", source_reference=f"T-{username}",
        source_account="bank:wallet-transfers",
    )  # fmt: skip
    return wallet


def _form(client: Client) -> dict[str, str]:
    body = client.get("/portal/bills/").content.decode()
    rid = re.search(r'name="request_id" value="([0-9a-f]+)"', body)
    amount = re.search(r'name="amount" inputmode="decimal"[^>]*value="([0-9.]*)"', body)
    assert rid and amount, body
    return {"request_id": rid.group(1), "amount": amount.group(1)}


def test_the_bills_page_offers_the_due_amount_and_the_receipt_shows_where_it_went(
    portal: Portal, settings: Any
) -> None:
    client, bill = _signed_up(portal, settings)
    wallet = _fund("zawadi", bill, "5000")
    form = _form(client)
    assert Money.from_major(form["amount"], bill.currency).minor == bill.owed_minor
    url = f"/portal/bills/{bill.customer.account_number}/pay/"
    answer = client.post(url, form)
    assert answer.status_code == 302
    payment = BillPayment.objects.get(source_reference__startswith=wallet.reference)
    assert answer["Location"] == f"/portal/bills/{bill.customer.account_number}/paid/{payment.pk}/"
    receipt = client.get(answer["Location"]).content.decode()
    assert bill.number in receipt and balance(wallet).format() in receipt
    bill.refresh_from_db()
    assert bill.owed_minor == 0
    # The same form again answers the first payment.
    again = client.post(url, form)
    assert again["Location"] == answer["Location"]
    assert BillPayment.objects.filter(source_reference__startswith=wallet.reference).count() == 1
    statement = client.get(f"/portal/wallet/{bill.customer.account_number}/").content.decode()
    assert "Bill paid" in statement


def test_a_short_wallet_is_refused_beside_the_form_and_nothing_is_paid(
    portal: Portal, settings: Any
) -> None:
    client, bill = _signed_up(portal, settings)
    wallet = _fund("zawadi", bill, "1")
    form = _form(client)
    answer = client.post(f"/portal/bills/{bill.customer.account_number}/pay/", form)
    assert answer.status_code == 400
    assert "The wallet holds" in answer.content.decode()
    assert not BillPayment.objects.filter(source_reference__startswith=wallet.reference).exists()
    assert balance(wallet) == Money.from_major("1", wallet.currency)


@pytest.mark.parametrize("amount", ["", "0", "-5", "1e9", "9" * 30, "12.345", "abc"])
def test_hostile_amounts_are_refused(portal: Portal, settings: Any, amount: str) -> None:
    client, bill = _signed_up(portal, settings)
    _fund("zawadi", bill, "100")
    form = {**_form(client), "amount": amount}
    answer = client.post(f"/portal/bills/{bill.customer.account_number}/pay/", form)
    assert answer.status_code == 400
    assert BillPayment.objects.filter(channel="web").count() == 0


def test_another_customers_account_and_a_staff_session_write_nothing(
    portal: Portal, settings: Any
) -> None:
    client, bill = _signed_up(portal, settings)
    wallet = _fund("zawadi", bill, "5000")
    form = _form(client)
    amina = portal.sign_up(portal.meter, "amina")
    url = f"/portal/bills/{bill.customer.account_number}/pay/"
    assert amina.post(url, form).status_code == 404
    assert amina.post("/portal/bills/NOPE/pay/", form).status_code == 404
    prepaid = portal.customer(portal.meter).account_number
    assert amina.post(f"/portal/bills/{prepaid}/pay/", form).status_code == 404
    staff = signed_in(portal.paybill.world.admin)
    answer = staff.post(url, form)
    assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/")
    assert client.get(url).status_code == 405
    assert not BillPayment.objects.filter(source_reference__startswith=wallet.reference).exists()
    paid = client.post(url, form)
    assert amina.get(paid["Location"]).status_code == 404
    assert staff.get(paid["Location"]).status_code == 302
