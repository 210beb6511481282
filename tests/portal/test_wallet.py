"""The portal's wallet pages: the balance and the bank reference, a card top-up through the
sandbox provider's page and back (a double submit and a replayed return top up once), an STK
top-up answered by the sandbox paybill, a purchase paid from the wallet (token on the page, by
SMS and by e-mail; a repeat sells once; too little in the wallet writes nothing), the month's
statement as a PDF, and the auto-purchase setting. The wallet ties to the ledger after it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.jobs.models import OutboxMessage
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.vending.integrity.books import verify_journal_entries
from gridvend.vending.models import Sale
from gridvend.wallet.models import CardPayment, CardPaymentState, Wallet, WalletTopUp
from gridvend.wallet.selectors import balance
from tests.portal.conftest import Portal
from tests.world import snapshot

pytestmark = pytest.mark.django_db

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture
def seller(portal: Portal, settings: Any) -> Portal:
    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    return portal


def _account(portal: Portal) -> str:
    return portal.customer(portal.meter).account_number


def _card_top_up(client: Client, account: str, amount: str, rid: str = "topup-card-0001") -> Any:
    """Post the top-up form by card, pay on the sandbox page, follow the signed return."""
    started = client.post(
        f"/portal/wallet/{account}/top-up/",
        {"amount": amount, "method": "card:sandbox", "phone": "", "request_id": rid},
    )
    assert started.status_code == 302, started.content.decode()[:2000]
    assert started["Location"].startswith("/wallet-card/sandbox/pay/")
    back = client.post(started["Location"], {"outcome": "paid"})
    assert back.status_code == 302
    return back


def test_the_wallet_page_shows_balance_reference_and_links(seller: Portal) -> None:
    client = seller.sign_up(seller.meter, "amina")
    assert client.get("/portal/wallet/")["Location"] == f"/portal/wallet/{_account(seller)}/"
    page = client.get(f"/portal/wallet/{_account(seller)}/")
    assert page.status_code == 200
    wallet = Wallet.objects.get(customer=seller.customer(seller.meter))
    text = page.content.decode()
    assert wallet.reference in text and 'id="balance"' in text
    assert "No movements yet." in text
    assert f"/portal/wallet/{_account(seller)}/top-up/" in text


def test_a_card_top_up_is_a_round_trip_and_credits_once(seller: Portal) -> None:
    client = seller.sign_up(seller.meter, "amina")
    account = _account(seller)
    back = _card_top_up(client, account, "750.50")
    shown = client.get(back["Location"])
    assert shown.status_code == 200
    portal_link = re.search(r'href="(/portal/wallet/card/[^"]+/)"', shown.content.decode())
    assert portal_link is not None
    outcome = client.get(portal_link.group(1)).content.decode()
    assert "was added to your wallet" in outcome
    wallet = Wallet.objects.get()
    assert balance(wallet).minor == 75050
    # The return replayed, and the same form posted again: still one top-up.
    assert client.get(back["Location"]).status_code == 200
    again = client.post(
        f"/portal/wallet/{account}/top-up/",
        {"amount": "750.50", "method": "card:sandbox", "request_id": "topup-card-0001"},
    )
    assert again.status_code == 302
    assert CardPayment.objects.count() == 1
    assert WalletTopUp.objects.count() == 1
    assert balance(wallet).minor == 75050
    # The movement is on the wallet page.
    assert "Top-up" in client.get(f"/portal/wallet/{account}/").content.decode()


def test_a_declined_card_payment_credits_nothing(seller: Portal) -> None:
    client = seller.sign_up(seller.meter, "amina")
    started = client.post(
        f"/portal/wallet/{_account(seller)}/top-up/",
        {"amount": "20", "method": "card:sandbox", "request_id": "topup-card-decline"},
    )
    client.post(started["Location"], {"outcome": "failed"})
    payment = CardPayment.objects.get()
    assert payment.state == CardPaymentState.FAILED
    page = client.get(f"/portal/wallet/card/{payment.reference}/").content.decode()
    assert "Nothing was charged" in page
    assert not WalletTopUp.objects.exists()


def test_top_up_amounts_are_bounded(seller: Portal, settings: Any) -> None:
    settings.WALLET_TOP_UP_MAX_MINOR = 100_000
    client = seller.sign_up(seller.meter, "amina")
    url = f"/portal/wallet/{_account(seller)}/top-up/"
    client.get(f"/portal/wallet/{_account(seller)}/")  # the wallet opens here
    before = snapshot()
    for amount in ("0", "-5", "1e9", "abc", "1000.01", "9" * 30):
        body = {"amount": amount, "method": "card:sandbox", "request_id": f"bad-{len(amount)}x1"}
        answer = client.post(url, body)
        assert answer.status_code == 400, amount
        assert 'class="error"' in answer.content.decode()
    assert snapshot() == before


def test_an_stk_top_up_credits_the_wallet_when_the_phone_pays(seller: Portal) -> None:
    client = seller.sign_up(seller.meter, "amina")
    account = _account(seller)
    body = {
        "amount": "120",
        "method": "mobile_money",
        "phone": "0712 345 126",
        "request_id": "topup-stk-0001",
    }
    answer = client.post(f"/portal/wallet/{account}/top-up/", body)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    waiting = client.get(answer["Location"]).content.decode()
    assert 'http-equiv="refresh"' in waiting
    # A double submit prompts the phone once.
    assert client.post(f"/portal/wallet/{account}/top-up/", body)["Location"] == answer["Location"]
    seller.paybill.deliver_held()
    done = client.get(answer["Location"]).content.decode()
    assert "was added to your wallet" in done
    assert balance(Wallet.objects.get()).minor == 12000
    assert WalletTopUp.objects.count() == 1


def _pay_from_wallet(portal: Portal, client: Client, amount: str, rid: str) -> Any:
    body = {
        "meter": portal.meter.number,
        "amount": amount,
        "phone": "",
        "method": "wallet",
        "request_id": rid,
    }
    breakdown = client.post("/portal/buy/", body)
    assert breakdown.status_code == 200, breakdown.content.decode()[:2000]
    assert 'action="/portal/buy/pay/wallet/"' in breakdown.content.decode()
    return client.post("/portal/buy/pay/wallet/", body)


def test_a_purchase_from_the_wallet_shows_the_token_the_meter_accepts(seller: Portal) -> None:
    client = seller.sign_up(seller.meter, "amina", channel="email")
    _card_top_up(client, _account(seller), "500")
    paid = _pay_from_wallet(seller, client, "300", "wallet-buy-0001")
    assert paid.status_code == 302, paid.content.decode()[:2000]
    page = client.get(paid["Location"]).content.decode()
    sale = Sale.objects.get()
    assert sale.payment_method == "wallet"
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    assert digits and all(d[:4] in page for d in digits)
    assert seller.paybill.tokens_accepted(seller.meter, digits)
    wallet = Wallet.objects.get()
    assert balance(wallet).minor == 20000
    # The token by SMS and by e-mail, once each, even when the form is posted again.
    again = client.post(
        "/portal/buy/pay/wallet/",
        {
            "meter": seller.meter.number,
            "amount": "300",
            "method": "wallet",
            "request_id": "wallet-buy-0001",
        },
    )
    assert again["Location"] == paid["Location"]
    assert Sale.objects.count() == 1
    kinds = list(OutboxMessage.objects.values_list("kind", "key"))
    assert sum(1 for kind, key in kinds if kind == "email" and sale.reference in key) == 1
    assert sum(1 for kind, key in kinds if kind == "sms" and sale.reference in key) == 1
    assert AuditEvent.objects.filter(event_type="portal_purchase.from_wallet").count() == 1
    # Tied to the ledger, to the cent.
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
    assert run_checks() == []
    assert verify_journal_entries().problems == []


def test_too_little_in_the_wallet_is_a_clear_message_and_writes_nothing(seller: Portal) -> None:
    client = seller.sign_up(seller.meter, "amina")
    _card_top_up(client, _account(seller), "50")
    before = snapshot()
    refused = _pay_from_wallet(seller, client, "300", "wallet-buy-short")
    assert refused.status_code == 400
    assert "The wallet holds" in refused.content.decode()
    assert snapshot() == before


def test_without_a_wallet_seller_the_wallet_cannot_pay(portal: Portal, settings: Any) -> None:
    settings.WALLET_SELLER = ""
    client = portal.sign_up(portal.meter, "amina")
    _card_top_up(client, _account(portal), "500")
    refused = _pay_from_wallet(portal, client, "300", "wallet-buy-noseller")
    assert refused.status_code == 400
    assert "not available now" in refused.content.decode()
    assert not Sale.objects.exists()


def _pdf_to_png(content: bytes, name: str) -> Path:
    """The PDF's first page as a PNG under test-output/ (and docs/images/ with
    GRIDVEND_PORTAL_SHOTS_TO_DOCS=1), to be looked at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    source = SHOTS / f"{name}.pdf"
    source.write_bytes(content)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-singlefile", str(source), str(SHOTS / name)],
        check=True,
        timeout=60,
    )
    picture = SHOTS / f"{name}.png"
    if os.environ.get("GRIDVEND_PORTAL_SHOTS_TO_DOCS", "") == "1":
        shutil.copyfile(picture, DOCS / f"{name}.png")
    return picture


def test_the_month_statement_is_a_pdf_and_the_month_is_bounded(seller: Portal) -> None:
    from django.utils import timezone

    client = seller.sign_up(seller.meter, "amina")
    account = _account(seller)
    _card_top_up(client, account, "500")
    month = timezone.localdate().strftime("%Y-%m")
    pdf = client.get(f"/portal/wallet/{account}/statement.pdf?month={month}")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    picture = _pdf_to_png(pdf.content, "portal-wallet-statement")
    assert picture.stat().st_size > 5000
    # In the login's language: Arabic, right to left.
    client.post("/portal/language/", {"language": "ar", "next": "/portal/"})
    arabic = client.get(f"/portal/wallet/{account}/statement.pdf?month={month}")
    assert arabic.status_code == 200 and arabic.content.startswith(b"%PDF")
    assert _pdf_to_png(arabic.content, "portal-wallet-statement-ar").stat().st_size > 5000
    for bad in ("", "1999-12", "2026-13", "9999-01", "x" * 500, "2026-1"):
        answer = client.get(f"/portal/wallet/{account}/statement.pdf", {"month": bad})
        assert answer.status_code == 400, bad
    assert client.get(f"/portal/wallet/{account}/?page=0").status_code == 400
    assert client.get(f"/portal/wallet/{account}/?page=99999999").status_code == 400
    assert client.get(f"/portal/wallet/{account}/?page=2").status_code == 200


def test_auto_purchase_is_set_bounded_and_audited(seller: Portal) -> None:
    client = seller.sign_up(seller.meter, "amina")
    url = f"/portal/wallet/{_account(seller)}/auto-purchase/"
    assert client.get(url).status_code == 200
    before = snapshot()
    bad = client.post(
        url, {"enabled": "on", "meter": seller.meter.number, "threshold": "100", "amount": "200"}
    )
    assert bad.status_code == 400 and "no larger than the threshold" in bad.content.decode()
    other = client.post(
        url, {"enabled": "on", "meter": seller.other.number, "threshold": "300", "amount": "200"}
    )
    assert other.status_code == 400
    assert snapshot() == before
    saved = client.post(
        url, {"enabled": "on", "meter": seller.meter.number, "threshold": "300", "amount": "200"}
    )
    assert saved.status_code == 302
    wallet = Wallet.objects.get()
    assert (wallet.auto_meter_id, wallet.auto_threshold_minor, wallet.auto_amount_minor) == (
        seller.meter.pk,
        30000,
        20000,
    )
    assert "On: a token for" in client.get(saved["Location"]).content.decode()
    off = client.post(url, {"meter": seller.meter.number})
    assert off.status_code == 302
    wallet.refresh_from_db()
    assert wallet.auto_meter_id is None
    assert AuditEvent.objects.filter(event_type="wallet.auto_purchase_set").count() == 2
