"""Reconciliation checks that apps above the ledger add to `gridvend ledger reconcile` and
`gridvend verify` (a subledger that must tie to its control account, such as mobile-money
suspense), declared from their AppConfig.ready() so the ledger never imports them."""

from __future__ import annotations

from collections.abc import Callable

# A check answers its findings, one sentence each; none means the books tie.
Check = Callable[[], list[str]]

_CHECKS: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    """Declare a named check (call it from an AppConfig.ready())."""
    _CHECKS[name] = check


def run_checks() -> list[str]:
    """Every registered check's findings, each prefixed with the check's name."""
    return [f"{name}: {finding}" for name, check in sorted(_CHECKS.items()) for finding in check()]
