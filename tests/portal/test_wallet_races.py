"""The portal's wallet purchases at once (PostgreSQL, real threads): the same form submitted many
times sells once, and different forms sell exactly what the wallet holds; the wallet never goes
below zero and ties to the ledger after it."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.logins import wallets
from gridvend.logins.models import CustomerLogin
from gridvend.vending.models import Sale
from gridvend.wallet import services as wallet_services
from gridvend.wallet.providers import SandboxCardProvider
from gridvend.wallet.selectors import balance
from tests.portal.conftest import Portal
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def _funded(portal: Portal, settings: Any, major: str) -> CustomerLogin:
    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    portal.sign_up(portal.meter, "amina")
    login = CustomerLogin.objects.get(username="amina")
    wallet = wallets.get_wallet(login, portal.customer(portal.meter).account_number)
    amount = Money.from_major(major, wallet.currency)
    claim = wallets.start_card_top_up(
        login=login, wallet=wallet, amount=amount, provider="sandbox", request_id="races-fund-0001"
    )
    payment = claim.payment
    assert payment is not None
    sandbox = SandboxCardProvider()
    body = sandbox.notice_body(
        provider_reference=payment.provider_reference,
        reference=payment.reference,
        amount=amount,
        outcome="paid",
    )
    wallet_services.apply_card_notice(provider="sandbox", body=body, signature=sandbox.sign(body))
    return login


def _buy(portal: Portal, login: CustomerLogin, request_id: str) -> str:
    try:
        _wallet, result = wallets.buy_with_wallet(
            login=login,
            meter_number=portal.meter.number,
            amount=portal.paybill.world.money("300"),
            request_id=request_id,
        )
    except DomainError as exc:
        return str(exc.code)
    return result.sale.reference


def test_the_same_form_submitted_at_once_sells_once(portal: Portal, settings: Any) -> None:
    login = _funded(portal, settings, "1000")
    results, errors = run_threads(THREADS, lambda _i: _buy(portal, login, "race-same-0001"))
    assert errors == []
    assert len(set(results)) == 1 and Sale.objects.count() == 1
    wallet = wallets.get_wallet(login, portal.customer(portal.meter).account_number)
    assert balance(wallet) == portal.paybill.world.money("700")


def test_different_forms_at_once_sell_what_the_wallet_holds(portal: Portal, settings: Any) -> None:
    login = _funded(portal, settings, "900")
    results, errors = run_threads(THREADS, lambda i: _buy(portal, login, f"race-many-{i:04d}"))
    assert errors == []
    sold = [r for r in results if r != "WALLET_INSUFFICIENT"]
    assert len(sold) == 3 and Sale.objects.count() == 3
    assert results.count("WALLET_INSUFFICIENT") == THREADS - 3
    wallet = wallets.get_wallet(login, portal.customer(portal.meter).account_number)
    assert balance(wallet).is_zero()
    assert ledger_selectors.reconcile_balances() == []
    assert run_checks() == []
