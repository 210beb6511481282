"""Refusals that apps above billing add to every payment cancel (a bank link refuses a cancel
while the bank's day is being reconciled), declared from their AppConfig.ready() so billing
never imports them. A guard raises a DomainError to refuse; it reads, never writes."""

from __future__ import annotations

from collections.abc import Callable

from gridvend.billing.models import BillPayment

CancelGuard = Callable[[BillPayment], None]

_GUARDS: dict[str, CancelGuard] = {}


def register_cancel_guard(name: str, guard: CancelGuard) -> None:
    """Declare a named guard (call it from an AppConfig.ready()); the same name replaces it."""
    _GUARDS[name] = guard


def check_cancel_guards(payment: BillPayment) -> None:
    for name in sorted(_GUARDS):
        _GUARDS[name](payment)
