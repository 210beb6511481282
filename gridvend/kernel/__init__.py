"""Pure-Python domain core of gridvend: money, energy, tariff pricing, ledger drafts, token port."""

from gridvend.kernel.clock import Clock, FixedClock, SystemClock, business_date
from gridvend.kernel.energy import TOKEN_KWH_STEP, round_kwh_up, to_kwh
from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.kernel.ledger import JournalDraft, Posting, SaleAccounts, credit_sale_journal
from gridvend.kernel.money import Money, round_minor
from gridvend.kernel.pricing import (
    Breakdown,
    FixedChargesDue,
    SaleContext,
    fbe_due,
    fixed_charges_due,
    price_by_energy,
    price_by_tender,
)
from gridvend.kernel.tariffs import TariffSpec
from gridvend.kernel.tokens import IssuedToken, MeterKeyRef, TokenEngine, allocate_tids

__all__ = [
    "TOKEN_KWH_STEP",
    "Breakdown",
    "Clock",
    "DomainError",
    "ErrorCode",
    "FixedChargesDue",
    "FixedClock",
    "IssuedToken",
    "JournalDraft",
    "MeterKeyRef",
    "Money",
    "Posting",
    "SaleAccounts",
    "SaleContext",
    "SystemClock",
    "TariffSpec",
    "TokenEngine",
    "allocate_tids",
    "business_date",
    "credit_sale_journal",
    "fbe_due",
    "fixed_charges_due",
    "price_by_energy",
    "price_by_tender",
    "round_kwh_up",
    "round_minor",
    "to_kwh",
]
