"""Customers' prepaid wallets (the capital account): credited by cash, bank transfer, mobile
money or a card provider, spent on tokens, tied to the ledger to the cent."""
