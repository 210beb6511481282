"""Fixes of the second review of issue 18 (the probes are tests/portal/test_review18b_probes.py):
a wallet purchase, its audit event and its e-mail in one transaction; the top-up form's maximum
in minor units and the currency's decimals; the statement month in ASCII digits only; a fault
report opened by the number its pages and its SMS quote."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.money import Money
from gridvend.logins.models import PortalCardTopUp, PortalFault
from gridvend.meters import faults
from gridvend.portal.wallet_forms import PageForm, TopUpForm
from gridvend.vending.models import Sale
from gridvend.wallet.models import CardPayment, Wallet
from gridvend.wallet.selectors import balance
from tests.portal.conftest import Portal

pytestmark = pytest.mark.django_db

REPORT = re.compile(r"/portal/faults/(\d+)/$")


@pytest.fixture
def seller(portal: Portal, settings: Any) -> Portal:
    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    return portal


def _account(portal: Portal) -> str:
    return portal.customer(portal.meter).account_number


def _top_up_by_card(client: Client, account: str, amount: str, rid: str) -> None:
    started = client.post(
        f"/portal/wallet/{account}/top-up/",
        {"amount": amount, "method": "card:sandbox", "phone": "", "request_id": rid},
    )
    assert started.status_code == 302, started.content.decode()[:2000]
    assert client.post(started["Location"], {"outcome": "paid"}).status_code == 302


def _buy_from_wallet(portal: Portal, client: Client, rid: str) -> Any:
    body = {"meter": portal.meter.number, "amount": "300", "method": "wallet", "request_id": rid}
    return client.post("/portal/buy/pay/wallet/", body)


# --- 5: the sale, its audit event and its e-mail: one transaction --------------------------------


def test_a_wallet_purchase_whose_audit_or_email_fails_sells_nothing_and_its_retry_sells_once(
    seller: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = seller.sign_up(seller.meter, "amina", channel="email")
    _top_up_by_card(client, _account(seller), "500", "r18b-fix5-top")
    wallet = Wallet.objects.get()
    held = balance(wallet).minor

    def crash(**_kwargs: Any) -> None:
        raise RuntimeError("the process dies before the e-mail is queued")

    # The crash between the sale and its audit event / e-mail, as the old second transaction
    # allowed: now the sale's own transaction is the one that fails.
    monkeypatch.setattr("gridvend.logins.services.queue_email", crash)
    client.raise_request_exception = False
    assert _buy_from_wallet(seller, client, "r18b-fix5-buy").status_code == 500
    assert not Sale.objects.exists()
    assert not AuditEvent.objects.filter(event_type="portal_purchase.from_wallet").exists()
    assert balance(wallet).minor == held

    monkeypatch.undo()
    paid = _buy_from_wallet(seller, client, "r18b-fix5-buy")
    assert paid.status_code == 302, paid.content.decode()[:2000]
    again = _buy_from_wallet(seller, client, "r18b-fix5-buy")
    assert again["Location"] == paid["Location"]
    sale = Sale.objects.get()
    assert balance(wallet).minor == held - 30000
    events = AuditEvent.objects.filter(event_type="portal_purchase.from_wallet")
    assert [e.target_id for e in events] == [str(sale.pk)]
    emails = OutboxMessage.objects.filter(kind="email", key__contains=sale.reference)
    assert emails.count() == 1


# --- 6: the form's maximum is in minor units, its decimals the currency's ------------------------


def _top_up_form(amount: str) -> TopUpForm:
    return TopUpForm(
        {"amount": amount, "method": "card:sandbox", "phone": "", "request_id": "r18b-fix6-0000"},
        providers=["sandbox"],
        currency="KES",
    )


def test_the_top_up_form_bounds_the_amount_in_minor_units_and_says_the_maximum(
    seller: Portal, settings: Any
) -> None:
    settings.WALLET_TOP_UP_MAX_MINOR = 100_000  # KES 1,000.00
    assert _top_up_form("1000").is_valid()
    assert _top_up_form("999.99").is_valid()
    # Before: the limit was read as 100,000 shillings, so these passed the form.
    for amount in ("1000.01", "99999", "100000"):
        assert not _top_up_form(amount).is_valid(), amount
    # KES has two decimals: a third is refused by the form, not by a server error.
    assert not _top_up_form("10.005").is_valid()
    exact = _top_up_form("10.50")
    assert exact.is_valid()
    assert exact.cleaned_data["amount"] == Money(1050, "KES").to_major()

    client = seller.sign_up(seller.meter, "amina")
    url = f"/portal/wallet/{_account(seller)}/top-up/"
    page = client.get(url).content.decode()
    assert f"At most {Money(100_000, 'KES').format()}." in page
    refused = client.post(
        url,
        {
            "amount": "1000.01",
            "method": "card:sandbox",
            "phone": "",
            "request_id": "r18b-fix6-0001",
        },
    )
    assert refused.status_code == 400
    assert 'id="id_amount-error"' in refused.content.decode()
    assert not CardPayment.objects.exists() and not PortalCardTopUp.objects.exists()


def test_the_card_form_again_with_the_same_amount_goes_to_the_first_payment(
    seller: Portal,
) -> None:
    client = seller.sign_up(seller.meter, "amina")
    url = f"/portal/wallet/{_account(seller)}/top-up/"
    form = {"amount": "100", "method": "card:sandbox", "phone": "", "request_id": "r18b-fix6-0002"}
    first = client.post(url, form)
    again = client.post(url, form)
    assert first.status_code == again.status_code == 302
    assert again["Location"] == first["Location"]
    claim = PortalCardTopUp.objects.get()
    assert claim.payment == CardPayment.objects.get() and claim.amount_minor == 10000


# --- 7: the statement month reads ASCII digits only ----------------------------------------------


def test_the_statement_month_refuses_arabic_indic_digits(seller: Portal) -> None:
    assert PageForm({"month": "2026-01"}).is_valid()
    for month in ("٢٠٢٦-٠١", "２０２６-０１", "2026-٠١"):
        assert not PageForm({"month": month}).is_valid(), month
    client = seller.sign_up(seller.meter, "amina")
    client.get(f"/portal/wallet/{_account(seller)}/")
    answer = client.get(f"/portal/wallet/{_account(seller)}/statement.pdf", {"month": "٢٠٢٦-٠١"})
    assert answer.status_code == 400


# --- 8: the number shown, the number in the SMS and the URL are one ------------------------------


def test_a_fault_report_opens_by_the_number_its_pages_and_sms_quote(portal: Portal) -> None:
    staff = portal.paybill.world.supervisor
    # A fault taken by phone first, so the fault's number and the portal row's id differ.
    by_phone = faults.register_fault(actor=staff, meter=portal.meter, description="Sparks")
    amina = portal.sign_up(portal.meter, "amina")
    brian = portal.sign_up(portal.other, "brian")
    form = {
        "meter": portal.meter.number,
        "kind": "no_supply",
        "description": "No power since the storm.",
        "phone": "",
        "request_id": "r18b-fix8-0001",
    }
    sent = amina.post("/portal/faults/new/", form)
    assert sent.status_code == 302
    found = REPORT.search(sent["Location"])
    assert found is not None
    report = PortalFault.objects.get()
    number = report.fault.pk
    assert number != report.pk
    assert int(found.group(1)) == number

    listed = amina.get("/portal/faults/").content.decode()
    assert f'href="/portal/faults/{number}/"' in listed
    assert f'<bdi dir="ltr">{number}</bdi>' in listed
    page = amina.get(f"/portal/faults/{number}/")
    assert page.status_code == 200
    assert f'<bdi dir="ltr">{number}</bdi>' in page.content.decode()
    texts = [
        m.payload["text"]
        for m in OutboxMessage.objects.filter(key__startswith=f"sms:fault:{number}:")
    ]
    assert texts and all(str(number) in text for text in texts)

    # Isolation: the portal row's id is no way in, nor is a fault that is not her report, nor
    # another customer's.
    assert amina.get(f"/portal/faults/{report.pk}/").status_code == 404
    assert amina.get(f"/portal/faults/{by_phone.pk}/").status_code == 404
    assert brian.get(f"/portal/faults/{number}/").status_code == 404
