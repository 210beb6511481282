"""Pure-Python domain core of gridvend: money, energy, tariff pricing, ledger drafts, token port."""
