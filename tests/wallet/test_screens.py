"""The staff screens of wallets: the cashier takes cash into a customer's wallet in the open
shift (opened on the first top-up, a double submit is one top-up, hostile amounts refused), the
receipt; finance imports a transfer file and credits an unmatched transfer; a wallet's statement
page shows its movements."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gridvend.identity.roles import Capability, Role
from gridvend.wallet import services as wallet_services
from gridvend.wallet.models import BankTransfer, TransferState, WalletTopUp
from gridvend.wallet.selectors import balance, wallet_of
from tests import factories
from tests.signin import signed_in
from tests.wallet.conftest import WalletWorld

pytestmark = pytest.mark.django_db


def test_a_cashier_opens_and_tops_up_a_wallet_once_per_form(ww: WalletWorld) -> None:
    w = ww.world
    other = w.add_meter()
    customer = w.customer(other)
    client = signed_in(w.cashier)
    page = client.get(f"/cashier/wallets/?account={customer.account_number}").content.decode()
    assert 'id="take-top-up"' in page
    reference = re.search(r'name="client_reference" value="([0-9a-f]+)"', page)
    assert reference is not None
    body = {"client_reference": reference.group(1), "amount": "150.00"}
    url = f"/cashier/wallets/?account={customer.account_number}"
    first = client.post(url, body)
    again = client.post(url, body)
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"]
    wallet = wallet_of(customer)
    assert wallet is not None and balance(wallet) == w.money("150.00")
    assert WalletTopUp.objects.filter(wallet=wallet).count() == 1
    receipt = client.get(first["Location"]).content.decode()
    assert wallet.reference in receipt and "150.00" in receipt
    by_reference = client.get(f"/cashier/wallets/?account={wallet.reference}").content.decode()
    assert customer.account_number in by_reference


@pytest.mark.parametrize("amount", ["0", "-1", "1e9", "12.345", "abc", "9" * 40])
def test_a_hostile_top_up_amount_is_refused_and_changes_nothing(
    ww: WalletWorld, amount: str
) -> None:
    client = signed_in(ww.world.cashier)
    url = f"/cashier/wallets/?account={ww.wallet.reference}"
    answer = client.post(url, {"client_reference": "abc", "amount": amount})
    assert answer.status_code == 400
    assert not WalletTopUp.objects.exists()


def test_a_wallet_of_another_region_is_not_found_at_the_till(ww: WalletWorld) -> None:
    w = ww.world
    south_meter = w.add_meter(unit=w.tree.south_sc)
    south = wallet_services.open_wallet(actor=w.admin, customer=w.customer(south_meter))
    page = signed_in(w.cashier).get(f"/cashier/wallets/?account={south.reference}")
    assert 'id="wallet-error"' in page.content.decode()
    assert 'id="take-top-up"' not in page.content.decode()


def test_finance_imports_transfers_and_credits_the_unmatched_one(ww: WalletWorld) -> None:
    w = ww.world
    finance = factories.user(w.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    client = signed_in(finance)
    content = (
        "reference,date,amount,narrative\n"
        f"S1,2026-11-30,40.00,{ww.wallet.reference}\n"
        "S2,2026-11-30,60.00,no idea\n"
    ).encode()
    answer = client.post(
        "/wallet-transfers/", {"file": SimpleUploadedFile("s.csv", content, "text/csv")}
    )
    assert answer.status_code == 302
    page = client.get("/wallet-transfers/").content.decode()
    assert "S2" in page and "S1" not in page
    waiting = BankTransfer.objects.get(bank_reference="S2")
    done = client.post(
        f"/wallet-transfers/{waiting.pk}/credit/", {"wallet": ww.wallet.reference.lower()}
    )
    assert done.status_code == 302
    waiting.refresh_from_db()
    assert waiting.state == TransferState.MATCHED
    assert balance(ww.wallet) == w.money("100.00")
    statement = client.get(f"/wallets/{ww.wallet.reference}/?start=2026-01-01&end=2026-12-31")
    text = statement.content.decode()
    assert statement.status_code == 200 and "wallet.top_up" in text and "100.00" in text
    bad = client.get(f"/wallets/{ww.wallet.reference}/?start=2026-12-31&end=2026-01-01")
    assert bad.status_code == 400
