"""Pure-Python domain core of gridvend: money, energy, tariffs and pricing, ledger drafts, token port."""
