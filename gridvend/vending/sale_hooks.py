"""What apps above vending add to every sale, declared from their AppConfig.ready() so vending
never imports them: an offline station (gridvend.stations) checks its signed allowance and
writes the sale into its signed journal in the sale's own transaction, and says which TID lane
it sells in.

A sale hook runs after the sale's rows and postings are written, before its audit event, inside
the sale's transaction: raising refuses the sale and nothing of it stays.
"""

from __future__ import annotations

from collections.abc import Callable

from gridvend.vending.models import Sale, Token

SaleHook = Callable[[Sale, list[Token]], None]

_HOOKS: dict[str, SaleHook] = {}
_LANE: list[Callable[[], int]] = []
# Raise to refuse an operation this install may not do (an offline station: all but credit
# sales); called at the entry of the use cases that need the master.
_GUARDS: dict[str, Callable[[str], None]] = {}
# Who sold a sale offline, for its receipt: a station's code, or None.
_SELLERS: dict[str, Callable[[Sale], str | None]] = {}


def register_sale_hook(name: str, hook: SaleHook) -> None:
    """Declare a named hook (call it from an AppConfig.ready()); the same name replaces it."""
    _HOOKS[name] = hook


def unregister_sale_hook(name: str) -> None:
    _HOOKS.pop(name, None)


def run_sale_hooks(sale: Sale, tokens: list[Token]) -> None:
    for name in sorted(_HOOKS):
        _HOOKS[name](sale, tokens)


def register_tid_lane(provider: Callable[[], int] | None) -> None:
    """Declare which TID lane this install sells in where a meter's unit has lanes (the master:
    0, the default; a station: its own). None goes back to the master's."""
    _LANE.clear()
    if provider is not None:
        _LANE.append(provider)


def tid_lane() -> int:
    return _LANE[0]() if _LANE else 0


def register_online_guard(name: str, guard: Callable[[str], None]) -> None:
    """Declare a guard that may refuse an operation needing the master (``guard(operation)``
    raises a DomainError); the same name replaces it."""
    _GUARDS[name] = guard


def unregister_online_guard(name: str) -> None:
    _GUARDS.pop(name, None)


def require_online(operation: str) -> None:
    """Called at the entry of every use case that only the master may carry out (reversals,
    free issues, FBE alone, engineering and key-change tokens): a station refuses it there,
    before anything is read or written."""
    for name in sorted(_GUARDS):
        _GUARDS[name](operation)


def register_offline_seller(name: str, seller: Callable[[Sale], str | None]) -> None:
    """Declare who can tell that a sale was made offline (the station's code), for receipts."""
    _SELLERS[name] = seller


def offline_seller(sale: Sale) -> str | None:
    """The code of the station that sold ``sale`` offline, or None (sold on the master)."""
    for name in sorted(_SELLERS):
        code = _SELLERS[name](sale)
        if code:
            return code
    return None
