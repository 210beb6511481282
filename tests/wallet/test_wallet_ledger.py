"""The wallet ties to the ledger to the cent after top-ups of every kind, purchases, refused
purchases, reversals (the refund to the wallet) and repeats of each; the statement is what the
books say; the till's cash-up counts cash top-ups and not wallet-funded sales."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger.checks import run_checks
from gridvend.org.models import VendingPoint, VendingPointStatus
from gridvend.sts.simulator import ResultCode
from gridvend.vending import services as vending
from gridvend.vending.integrity.books import verify_journal_entries
from gridvend.vending.models import BackOfficeRefund, Sale, SaleStatus
from gridvend.vending.selectors import current_shift, expected_takings
from gridvend.wallet import services
from gridvend.wallet.models import BankTransfer, TransferState, WalletTopUp
from gridvend.wallet.providers import SandboxCardProvider
from gridvend.wallet.selectors import balance, statement
from tests.wallet.conftest import WalletWorld

pytestmark = pytest.mark.django_db


def _ties(ww: WalletWorld) -> None:
    assert ledger_selectors.reconcile_balances() == []
    assert ledger_selectors.unbalanced_entries() == []
    assert run_checks() == []
    # Every entry, the top-ups' included, belongs to exactly one record (`gridvend verify`).
    assert verify_journal_entries().problems == []


def _pay_by_card(ww: WalletWorld, major: str) -> None:
    amount = ww.world.money(major)
    payment, checkout = services.start_card_payment(
        wallet=ww.wallet, amount=amount, provider="sandbox"
    )
    assert checkout.page_url.endswith(payment.provider_reference)
    sandbox = SandboxCardProvider()
    body = sandbox.notice_body(
        provider_reference=payment.provider_reference,
        reference=payment.reference,
        amount=amount,
        outcome="paid",
    )
    services.apply_card_notice(provider="sandbox", body=body, signature=sandbox.sign(body))
    # The return comes after the callback: the same notice again changes nothing.
    services.apply_card_notice(provider="sandbox", body=body, signature=sandbox.sign(body))


def test_top_ups_purchases_and_a_reversal_tie_to_the_ledger_to_the_cent(ww: WalletWorld) -> None:
    w = ww.world
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("500.25"), receipt="r1")
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("500.25"), receipt="r1")
    _pay_by_card(ww, "300.10")
    csv = f"reference,date,amount,narrative\nBT-1,2026-11-30,199.65,pay {ww.wallet.reference}\n"
    services.import_transfers(actor=w.supervisor, data=csv.encode())
    services.import_transfers(actor=w.supervisor, data=csv.encode())
    assert balance(ww.wallet) == w.money("1000.00")
    assert WalletTopUp.objects.count() == 3
    _ties(ww)

    sold = services.buy_from_wallet(
        actor=w.cashier,
        vending_point=w.point,
        wallet=ww.wallet,
        meter_number=ww.meter.number,
        request_id="buy-1",
        amount=w.money("400.00"),
        clock=w.clock,
    )
    again = services.buy_from_wallet(
        actor=w.cashier,
        vending_point=w.point,
        wallet=ww.wallet,
        meter_number=ww.meter.number,
        request_id="buy-1",
        amount=w.money("400.00"),
        clock=w.clock,
    )
    assert again.replayed and again.sale.pk == sold.sale.pk
    assert sold.sale.payment_method == "wallet"
    sim = w.simulator(ww.meter)
    for token in sold.tokens:
        assert sim.enter(token.digits).code == ResultCode.ACCEPTED
    assert balance(ww.wallet) == w.money("600.00")
    _ties(ww)

    with pytest.raises(DomainError) as refused:
        services.buy_from_wallet(
            actor=w.cashier,
            vending_point=w.point,
            wallet=ww.wallet,
            meter_number=ww.meter.number,
            request_id="buy-2",
            amount=w.money("600.01"),
            clock=w.clock,
        )
    assert refused.value.code == "WALLET_INSUFFICIENT"
    assert Sale.objects.count() == 1
    assert balance(ww.wallet) == w.money("600.00")

    vending.reverse_sale(actor=w.supervisor, sale=sold.sale, reason="wrong meter", clock=w.clock)
    assert Sale.objects.get(pk=sold.sale.pk).status == SaleStatus.REVERSED
    assert balance(ww.wallet) == w.money("1000.00")
    _ties(ww)

    # The whole wallet can be spent, to the cent, and not a cent more.
    w.clock.advance(timedelta(minutes=1))
    services.buy_from_wallet(
        actor=w.cashier,
        vending_point=w.point,
        wallet=ww.wallet,
        meter_number=ww.meter.number,
        request_id="buy-3",
        amount=w.money("1000.00"),
        clock=w.clock,
    )
    assert balance(ww.wallet) == w.money("0.00")
    _ties(ww)

    # The sales are dated by the world's fixed clock, the top-ups by today: one statement
    # covering both days holds every movement, from an opening of nothing to a closing of nothing.
    st = statement(ww.wallet, start=date(2026, 6, 1), end=date.today())
    assert st.opening == w.money("0")
    assert st.closing == w.money("0")
    assert sorted(m.amount.minor for m in st.movements) == sorted(
        [50025, 30010, 19965, -40000, 40000, -100000]
    )
    assert st.movements[-1].balance == st.closing
    tomorrow = date.today() + timedelta(days=1)
    later = statement(ww.wallet, start=tomorrow, end=tomorrow)
    assert later.movements == [] and later.opening == w.money("0") == later.closing


def test_cash_top_ups_are_in_the_drawer_and_wallet_sales_are_not(ww: WalletWorld) -> None:
    w = ww.world
    shift = current_shift(w.cashier)
    assert shift is not None
    before = expected_takings(shift).get("cash", 0)
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("250"), receipt="c1")
    services.buy_from_wallet(
        actor=w.cashier,
        vending_point=w.point,
        wallet=ww.wallet,
        meter_number=ww.meter.number,
        request_id="b",
        amount=w.money("200"),
        clock=w.clock,
    )
    takings = expected_takings(shift)
    assert takings["cash"] == before + 25000
    assert "wallet" not in takings


def test_a_wallet_never_pays_for_another_customers_meter(ww: WalletWorld) -> None:
    w = ww.world
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("500"), receipt="c1")
    other = w.add_meter()
    with pytest.raises(DomainError) as refused:
        services.buy_from_wallet(
            actor=w.cashier,
            vending_point=w.point,
            wallet=ww.wallet,
            meter_number=other.number,
            request_id="x",
            amount=w.money("100"),
            clock=w.clock,
        )
    assert refused.value.code == "WALLET_METER_NOT_OWN"
    assert Sale.objects.count() == 0
    assert balance(ww.wallet) == w.money("500")


def test_unmatched_transfers_wait_for_review_then_credit_the_chosen_wallet(
    ww: WalletWorld,
) -> None:
    w = ww.world
    ref = ww.wallet.reference
    typo = ref[:-1] + ("A" if ref[-1] != "A" else "B")  # a wrong check character
    csv = (
        "reference,date,amount,narrative\n"
        f"T1,2026-11-30,10.00,{ref[:4]} {ref[4:]}\n"
        f"T2,2026-11-30,20.00,{typo}\n"
        "T3,2026-11-30,30.00,no reference at all\n"
    )
    result = services.import_transfers(actor=w.supervisor, data=csv.encode())
    assert (result.matched, result.unmatched) == (1, 2)
    assert balance(ww.wallet) == w.money("10")
    waiting = BankTransfer.objects.get(bank_reference="T2")
    assert waiting.state == TransferState.UNMATCHED
    services.credit_unmatched_transfer(actor=w.supervisor, transfer=waiting, wallet=ww.wallet)
    with pytest.raises(DomainError) as twice:
        services.credit_unmatched_transfer(actor=w.supervisor, transfer=waiting, wallet=ww.wallet)
    assert twice.value.code == "TRANSFER_NOT_UNMATCHED"
    assert balance(ww.wallet) == w.money("30")
    _ties(ww)


@pytest.mark.parametrize(
    "content",
    [
        "reference,date,amount\nT1,2026-11-30,10.00\n",
        "reference,date,amount,narrative\nT1,2026-11-30,1e9,x\n",
        "reference,date,amount,narrative\nT1,2026-11-30,-5,x\n",
        "reference,date,amount,narrative\nT1,2026-02-30,5,x\n",
        "reference,date,amount,narrative\nT1,2026-11-30,5,x\nT1,2026-11-30,5,y\n",
        "reference,date,amount,narrative\nT1,2026-11-30,5,a\u202eb\n",
    ],
)
def test_a_transfer_file_with_one_bad_line_imports_nothing(ww: WalletWorld, content: str) -> None:
    w = ww.world
    good = f"G1,2026-11-30,5.00,{ww.wallet.reference}\n"
    with pytest.raises(DomainError) as refused:
        services.import_transfers(actor=w.supervisor, data=(content + good).encode())
    assert refused.value.code == "TRANSFER_FILE_INVALID"
    assert BankTransfer.objects.count() == 0
    assert balance(ww.wallet) == Money(0, ww.wallet.currency)


def test_a_transfer_file_too_large_is_refused_before_it_is_read(ww: WalletWorld) -> None:
    with pytest.raises(DomainError) as refused:
        services.import_transfers(actor=ww.world.supervisor, data=b"x" * (1024 * 1024 + 1))
    assert refused.value.code == "TRANSFER_FILE_INVALID"


def test_cash_is_not_taken_at_a_suspended_till_or_without_a_shift(ww: WalletWorld) -> None:
    w = ww.world
    VendingPoint.objects.filter(pk=w.point.pk).update(status=VendingPointStatus.SUSPENDED)
    with pytest.raises(DomainError) as suspended:
        services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("5"), receipt="s")
    assert suspended.value.code == "VENDING_POINT_INACTIVE"
    with pytest.raises(DomainError) as no_shift:
        services.top_up_cash(actor=w.supervisor, wallet=ww.wallet, amount=w.money("5"), receipt="t")
    assert no_shift.value.code == "WALLET_SHIFT_NOT_OPEN"
    assert not WalletTopUp.objects.exists()
    _ties(ww)


def test_a_top_up_edited_behind_gridvends_back_is_reported(ww: WalletWorld) -> None:
    w = ww.world
    top_up = services.top_up_cash(
        actor=w.cashier, wallet=ww.wallet, amount=w.money("50"), receipt="e"
    )
    _ties(ww)
    WalletTopUp.objects.filter(pk=top_up.pk).update(source_reference="forged")
    findings = run_checks()
    assert any("differs from what audit event" in f for f in findings), findings


def test_an_approved_reversal_refunds_the_wallet_not_a_drawer(ww: WalletWorld) -> None:
    w = ww.world
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("300"), receipt="r")
    shift = current_shift(w.cashier)
    assert shift is not None
    sold = services.buy_from_wallet(
        actor=w.cashier,
        vending_point=w.point,
        wallet=ww.wallet,
        meter_number=ww.meter.number,
        request_id="rev",
        amount=w.money("300"),
        clock=w.clock,
    )
    cash_before = expected_takings(shift)["cash"]
    request = vending.request_reversal(actor=w.cashier, sale=sold.sale, reason="wrong meter")
    vending.approve_reversal(actor=w.supervisor, request=request, clock=w.clock)
    assert balance(ww.wallet) == w.money("300")
    assert expected_takings(shift)["cash"] == cash_before
    assert not BackOfficeRefund.objects.exists()
    _ties(ww)
