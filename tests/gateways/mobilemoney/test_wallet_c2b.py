"""Mobile money into wallets: a C2B payment to the paybill with a wallet's reference as the
account credits that wallet from the aggregator's float, once however often the confirmation
comes; validation accepts a wallet reference and refuses one no wallet has; a wallet reference
nobody holds parks the payment in suspense; an STK push to a wallet reference tops it up; the
books tie throughout."""

from __future__ import annotations

import pytest

from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.mobilemoney import services
from gridvend.mobilemoney.models import MobilePayment, PaymentState, StkState
from gridvend.wallet import services as wallet_services
from gridvend.wallet.models import TopUpSource, WalletTopUp
from gridvend.wallet.selectors import balance
from gridvend.wallet.services.wallets import check_character
from tests.gateways.mobilemoney.conftest import Paybill, confirmation

pytestmark = pytest.mark.django_db


def test_a_paybill_payment_to_a_wallet_reference_credits_it_once(paybill: Paybill) -> None:
    world = paybill.world
    meter = world.add_meter()
    wallet = wallet_services.open_wallet(actor=world.admin, customer=world.customer(meter))
    checked = paybill.post("c2b-validation", confirmation("W1", wallet.reference.lower()))
    assert checked.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    body = confirmation("RKW1ZDR4F", f"{wallet.reference[:5]} {wallet.reference[5:]}")
    for _ in range(3):
        assert paybill.post("c2b-confirmation", body).json()["ResultCode"] == 0
    payment = MobilePayment.objects.get()
    assert payment.state == PaymentState.CREDITED and payment.sale is None
    top_up = WalletTopUp.objects.get()
    assert top_up.source == TopUpSource.MOBILE_MONEY and top_up.amount_minor == 50000
    assert balance(wallet) == world.money("500.00")
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
    assert run_checks() == []


def test_a_wallet_reference_nobody_holds_is_refused_or_parked(paybill: Paybill) -> None:
    body = "ABCDEFGH"
    nobody = "W" + body + check_character(body)
    refused = paybill.post("c2b-validation", confirmation("W2", nobody))
    assert refused.json()["ResultDesc"] == "Rejected"
    paybill.post("c2b-confirmation", confirmation("RKW2ZDR4F", nobody))
    payment = MobilePayment.objects.get()
    assert payment.state == PaymentState.SUSPENSE
    assert payment.suspense_code == "MOBILE_ACCOUNT_UNKNOWN"
    assert not WalletTopUp.objects.exists()
    assert run_checks() == []


def test_an_stk_push_to_a_wallet_reference_tops_the_wallet_up(paybill: Paybill) -> None:
    world = paybill.world
    wallet = wallet_services.open_wallet(
        actor=world.admin, customer=world.customer(world.add_meter())
    )
    push = services.request_stk_push(
        actor=world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=wallet.reference,
        amount=world.money("300"),
        channel="portal",
        client_reference="portal-1",
    )
    again = services.request_stk_push(
        actor=world.admin,
        provider=paybill.provider,
        phone="0712 345 126",
        meter_number=wallet.reference,
        amount=world.money("300"),
        channel="portal",
        client_reference="portal-1",
    )
    assert again.pk == push.pk
    paybill.deliver_held()
    push.refresh_from_db()
    assert push.state == StkState.PAID and push.payment is not None
    assert push.payment.state == PaymentState.CREDITED
    assert balance(wallet) == world.money("300")
    assert ledger_selectors.reconcile_balances() == []
    assert run_checks() == []
