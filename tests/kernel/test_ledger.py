"""Ledger drafts: balanced per currency, and the credit-sale entry built from a breakdown."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gridvend.kernel.ledger import (
    JournalDraft,
    Posting,
    SaleAccounts,
    UnbalancedJournal,
    credit_sale_journal,
    journal,
)
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import SaleContext, fixed_charges_due, price_by_tender
from gridvend.kernel.tariffs import DebtRecoveryRule, FixedCharge, TariffSpec, Tax

ACCOUNTS = SaleAccounts(
    source="cash_drawer:VP1",
    energy_revenue="energy_revenue",
    fixed_charge_revenue="fixed_charge_revenue",
    customer_debt="customer_debt:C1",
    tax_payable={"VAT": "tax_payable:VAT"},
)


def kes(minor: int) -> Money:
    return Money(minor, "KES")


def test_balance_is_checked_per_currency():
    # 100 KES against 100 UGX sums to "zero" numerically but balances in neither currency.
    draft = JournalDraft((Posting("a", kes(100)), Posting("b", Money(-100, "UGX"))))
    assert not draft.is_balanced()
    assert draft.totals() == {"KES": kes(100), "UGX": Money(-100, "UGX")}
    with pytest.raises(UnbalancedJournal):
        draft.assert_balanced()


def test_journal_refuses_unbalanced_postings_and_drops_zeros():
    with pytest.raises(UnbalancedJournal):
        journal([Posting("a", kes(100)), Posting("b", kes(-99))])
    draft = journal([Posting("a", kes(100)), Posting("b", kes(-100)), Posting("c", kes(0))])
    assert [p.account_code for p in draft.postings] == ["a", "b"]
    assert draft.is_balanced()


def test_reversal_flips_every_posting():
    draft = journal([Posting("a", kes(100)), Posting("b", kes(-100))], "sale 1")
    reversal = draft.reversed()
    assert [p.amount for p in reversal.postings] == [kes(-100), kes(100)]
    assert reversal.is_balanced()
    assert "sale 1" in reversal.memo


def test_posting_needs_an_account():
    with pytest.raises(ValueError):
        Posting("", kes(1))


def test_credit_sale_entry_debits_the_source_and_credits_each_part():
    spec = TariffSpec.flat(
        "KES",
        "20.00",
        fixed_charges=(FixedCharge("Service charge", 20_000, "month"),),
        taxes=(Tax("VAT", Decimal("0.16")), Tax("LEVY", Decimal("0.02"), applies_to_fixed=False)),
        debt_recovery=DebtRecoveryRule(rate=Decimal("0.10")),
    )
    ctx = SaleContext(
        fixed_charges=fixed_charges_due(spec, None, date(2025, 6, 1)),
        debt_balance=kes(100_000),
    )
    b = price_by_tender(spec, kes(100_000), ctx)
    draft = credit_sale_journal(b, ACCOUNTS, memo="sale S1")
    assert draft.is_balanced()
    by_account = draft.by_account()
    # Tender 1000.00; debt 10 % = 100.00; fixed 200.00 + VAT 32.00; energy gross 668.00.
    assert by_account[("cash_drawer:VP1", "KES")] == kes(100_000)
    assert by_account[("customer_debt:C1", "KES")] == kes(-10_000)
    assert by_account[("fixed_charge_revenue", "KES")] == kes(-20_000)
    # 668.00 / 1.18 = 566.1017 -> 566.10; taxes 101.90 split 16:2 -> 90.5778 / 11.3222:
    # floors 90.57 + 11.32 = 101.89, leftover cent to VAT (0.78 > 0.22): 90.58 and 11.32.
    assert by_account[("energy_revenue", "KES")] == kes(-56_610)
    assert by_account[("tax_payable:VAT", "KES")] == kes(-(3_200 + 9_058))
    # LEVY has no mapped account and falls back to the default prefix.
    assert by_account[("tax_payable:LEVY", "KES")] == kes(-1_132)
    assert draft.memo == "sale S1"
