"""Binds the records that decide money and energy to the audit chain, and checks the stored rows
against those bindings (`gridvend verify`): sales, tokens and reversals (`sales`), cashier shifts
(`shifts`), and debts, float top-ups and the ownership of every journal entry (`books`)."""
