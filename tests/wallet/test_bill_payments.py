"""Postpaid bills paid from the customer's wallet (wallet.services.pay_bills_from_wallet): the
billing payment allocated as at the counter, the wallet drawn in the same entry, never below
zero, idempotent on the request id, only the wallet's own customer's account, a cancel in the
back office giving the money back to the wallet, and the wallet tied to the ledger throughout."""

from __future__ import annotations

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.billing import services as billing
from gridvend.billing.models import Bill, BillPayment, PaymentStatus
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.wallet import services as wallet_services
from gridvend.wallet.events import WalletEvent
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance, wallet_findings
from tests.threads import run_threads
from tests.world import World, billed_postpaid_meter, build_world

THREADS = 8


def _world(tag: str = "Zawadi") -> tuple[World, Bill, Wallet]:
    world = build_world()
    _run, bill, _payment = billed_postpaid_meter(world, world.unit, tag)
    bill.refresh_from_db()
    wallet = wallet_services.open_wallet(actor=world.admin, customer=bill.customer)
    return world, bill, wallet


def _fund(wallet: Wallet, major: str, reference: str = "T-1") -> None:
    wallet_services.credit_wallet(
        actor=None,
        wallet=wallet,
        amount=Money.from_major(major, wallet.currency),
        source="bank_transfer",
        source_reference=reference,
        source_account="bank:wallet-transfers",
    )


def _pay(world: World, wallet: Wallet, minor: int, rid: str) -> BillPayment:
    return wallet_services.pay_bills_from_wallet(
        actor=world.cashier,
        wallet=wallet,
        account_number=wallet.customer.account_number,
        amount=Money(minor, wallet.currency),
        request_id=rid,
    )


def _tied() -> None:
    assert ledger_selectors.reconcile_balances() == []
    assert wallet_findings() == []
    assert run_checks() == []


@pytest.mark.django_db
def test_a_wallet_pays_the_bill_as_the_counter_would() -> None:
    world, bill, wallet = _world()
    owed = bill.owed_minor
    assert owed > 0
    _fund(wallet, "5000")
    before = balance(wallet)
    payment = _pay(world, wallet, owed, "portal-0001")
    bill.refresh_from_db()
    assert bill.owed_minor == 0 and bill.status == "paid"
    assert payment.allocated_minor == owed and payment.channel == "web"
    assert payment.source_reference == f"{wallet.reference}:portal-0001"
    assert balance(wallet) == before - Money(owed, wallet.currency)
    codes = set(payment.journal_entry.postings.values_list("account__code", flat=True))
    assert wallet.account.code in codes
    assert AuditEvent.objects.filter(event_type=WalletEvent.BILL_PAID).count() == 1
    assert AuditEvent.objects.filter(event_type="bill_payment.received", target_id=str(payment.pk))
    _tied()


@pytest.mark.django_db
def test_the_same_request_id_answers_the_first_payment_and_another_amount_is_refused() -> None:
    world, _bill, wallet = _world()
    _fund(wallet, "5000")
    first = _pay(world, wallet, 1000, "portal-0002")
    left = balance(wallet)
    again = _pay(world, wallet, 1000, "portal-0002")
    assert again.pk == first.pk and balance(wallet) == left
    with pytest.raises(DomainError) as refused:
        _pay(world, wallet, 1200, "portal-0002")
    assert refused.value.code == "PAYMENT_REFERENCE_REUSED"
    assert BillPayment.objects.filter(source_reference__startswith=wallet.reference).count() == 1
    assert AuditEvent.objects.filter(event_type=WalletEvent.BILL_PAID).count() == 1
    _tied()


@pytest.mark.django_db
def test_a_wallet_short_of_the_amount_pays_nothing() -> None:
    world, _bill, wallet = _world()
    _fund(wallet, "5")
    payments = BillPayment.objects.count()
    with pytest.raises(DomainError) as refused:
        _pay(world, wallet, 501, "portal-0003")
    assert refused.value.code == "WALLET_INSUFFICIENT"
    assert BillPayment.objects.count() == payments
    assert balance(wallet) == Money.from_major("5", wallet.currency)
    assert not AuditEvent.objects.filter(event_type=WalletEvent.BILL_PAID).exists()
    _tied()


@pytest.mark.django_db
def test_a_wallet_pays_only_its_own_customers_account_and_bounded_amounts() -> None:
    world, _bill, wallet = _world()
    _run, other_bill, _payment = billed_postpaid_meter(world, world.unit, "Baraka")
    _fund(wallet, "5000")
    with pytest.raises(DomainError) as refused:
        wallet_services.pay_bills_from_wallet(
            actor=world.cashier,
            wallet=wallet,
            account_number=other_bill.customer.account_number,
            amount=Money(100, wallet.currency),
            request_id="portal-0004",
        )
    assert refused.value.code == "WALLET_BILL_NOT_OWN"
    for minor in (0, -5, 10**12):
        with pytest.raises(DomainError) as bad:
            _pay(world, wallet, minor, "portal-0005")
        assert bad.value.code == "WALLET_AMOUNT_INVALID"
    for rid in ("", "x" * 51, "bad\x00id"):
        with pytest.raises(DomainError):
            _pay(world, wallet, 100, rid)
    assert not BillPayment.objects.filter(source_reference__startswith=wallet.reference).exists()
    _tied()


@pytest.mark.django_db
def test_more_than_is_owed_is_kept_as_the_accounts_credit() -> None:
    world, bill, wallet = _world()
    _fund(wallet, "5000")
    payment = _pay(world, wallet, bill.owed_minor + 700, "portal-0006")
    assert payment.credit_minor == 700
    _tied()


@pytest.mark.django_db
def test_a_cancelled_bill_payment_gives_the_money_back_to_the_wallet() -> None:
    world, bill, wallet = _world()
    _fund(wallet, "5000")
    before = balance(wallet)
    payment = _pay(world, wallet, bill.owed_minor, "portal-0007")
    billing.cancel_payment(actor=world.admin, payment=payment, reason="paid twice by mistake")
    payment.refresh_from_db()
    bill.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert bill.owed_minor > 0
    assert balance(wallet) == before
    with pytest.raises(DomainError) as replay:
        _pay(world, wallet, bill.owed_minor, "portal-0007")
    assert replay.value.code == "PAYMENT_REFERENCE_CANCELLED"
    _tied()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_payments_at_once_from_a_wallet_that_covers_three() -> None:
    world, _bill, wallet = _world()
    _fund(wallet, "90")

    def pay(i: int) -> str:
        try:
            return str(_pay(world, wallet, 3000, f"race-{i:04d}").pk)
        except DomainError as exc:
            return str(exc.code)

    results, errors = run_threads(THREADS, pay)
    assert errors == []
    assert results.count("WALLET_INSUFFICIENT") == THREADS - 3
    assert len({r for r in results if r != "WALLET_INSUFFICIENT"}) == 3
    assert balance(wallet).is_zero()
    _tied()
