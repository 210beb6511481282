"""Refusals that apps above customers add to a change of an account's kind (billing refuses a
switch to prepaid while bills still owe), declared from their AppConfig.ready() so customers
never imports them. A guard raises a DomainError to refuse; it reads, never writes."""

from __future__ import annotations

from collections.abc import Callable

from gridvend.customers.models import Customer

# (the customer locked, with its kind before the change; the kind asked for)
KindGuard = Callable[[Customer, str], None]

_GUARDS: dict[str, KindGuard] = {}


def register_kind_guard(name: str, guard: KindGuard) -> None:
    """Declare a named guard (call it from an AppConfig.ready()); the same name replaces it."""
    _GUARDS[name] = guard


def check_kind_guards(customer: Customer, kind: str) -> None:
    for name in sorted(_GUARDS):
        _GUARDS[name](customer, kind)
