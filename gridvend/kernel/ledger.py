"""Pure double-entry drafts: postings, balance checks, and the journal of a credit sale."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gridvend.kernel.money import Money
from gridvend.kernel.pricing import Breakdown


class UnbalancedJournal(ValueError):
    """Postings that do not sum to zero in some currency; a programming error."""


@dataclass(frozen=True)
class Posting:
    """One line of a journal entry. Debits are positive amounts, credits negative."""

    account_code: str
    amount: Money

    def __post_init__(self) -> None:
        if not self.account_code:
            raise ValueError("a posting needs an account code")


@dataclass(frozen=True)
class JournalDraft:
    """Postings of one money movement, not yet stored; the ledger app persists balanced drafts."""

    postings: tuple[Posting, ...]
    memo: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "postings", tuple(self.postings))

    def totals(self) -> dict[str, Money]:
        """Sum of the postings per currency."""
        sums: dict[str, Money] = {}
        for posting in self.postings:
            cur = posting.amount.currency
            sums[cur] = sums.get(cur, Money.zero(cur)) + posting.amount
        return sums

    def is_balanced(self) -> bool:
        """True when the postings sum to zero in every currency."""
        return all(total.is_zero() for total in self.totals().values())

    def assert_balanced(self) -> None:
        if not self.is_balanced():
            raise UnbalancedJournal(f"journal does not balance: {self.totals()}")

    def by_account(self) -> dict[tuple[str, str], Money]:
        """Net amount per (account code, currency)."""
        result: dict[tuple[str, str], Money] = {}
        for posting in self.postings:
            key = (posting.account_code, posting.amount.currency)
            result[key] = result.get(key, Money.zero(key[1])) + posting.amount
        return result

    def reversed(self, memo: str = "") -> JournalDraft:
        """The correcting entry: every posting with its sign flipped."""
        return JournalDraft(
            tuple(Posting(p.account_code, -p.amount) for p in self.postings),
            memo or f"reversal of: {self.memo}",
        )


def journal(postings: Iterable[Posting], memo: str = "") -> JournalDraft:
    """Build a draft and refuse it unless it balances, dropping zero postings as noise."""
    draft = JournalDraft(tuple(p for p in postings if not p.amount.is_zero()), memo)
    draft.assert_balanced()
    return draft


@dataclass(frozen=True)
class SaleAccounts:
    """Account codes a credit sale posts to.

    ``source`` is what the tender is taken from: a vending point's cash drawer, a partner's float
    or a customer's wallet. ``tax_payable`` maps tax codes to their payable accounts; a tax code
    missing from it posts to ``default_tax_payable`` followed by ``:`` and the code.
    """

    source: str
    energy_revenue: str
    fixed_charge_revenue: str
    customer_debt: str
    tax_payable: Mapping[str, str] = field(default_factory=dict)
    default_tax_payable: str = "tax_payable"

    def tax_account(self, code: str) -> str:
        return self.tax_payable.get(code, f"{self.default_tax_payable}:{code}")


def credit_sale_journal(
    breakdown: Breakdown, accounts: SaleAccounts, memo: str = ""
) -> JournalDraft:
    """The journal of a credit sale: debit the source with the tender, credit where it went.

    Customer debt is an asset (money owed to the utility), so recovering it credits that account.
    Free basic electricity moves no money and has no postings here.
    """
    lines = [
        Posting(accounts.source, breakdown.tender),
        Posting(accounts.energy_revenue, -breakdown.energy_net),
        Posting(accounts.fixed_charge_revenue, -breakdown.fixed_charges_net),
        Posting(accounts.customer_debt, -breakdown.debt_recovered),
    ]
    lines.extend(Posting(accounts.tax_account(t.code), -t.amount) for t in breakdown.taxes)
    return journal(lines, memo)
