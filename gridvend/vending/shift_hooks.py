"""What apps above vending do when a cashier's shift opens or closes, declared from their
AppConfig.ready() so vending never imports them: an offline station writes ``shift_opened`` and
``shift_closed`` entries into its signed journal, in the shift's own transaction.

A shift hook runs after the shift's row is written, before its audit event, inside the shift's
transaction: raising refuses the change and nothing of it stays.
"""

from __future__ import annotations

from collections.abc import Callable

from gridvend.vending.models import Shift

ShiftHook = Callable[[Shift], None]

_OPENED: dict[str, ShiftHook] = {}
_CLOSED: dict[str, ShiftHook] = {}


def register_shift_hooks(name: str, *, opened: ShiftHook, closed: ShiftHook) -> None:
    """Declare a named pair of hooks (call it from an AppConfig.ready()); the same name replaces
    them."""
    _OPENED[name] = opened
    _CLOSED[name] = closed


def unregister_shift_hooks(name: str) -> None:
    _OPENED.pop(name, None)
    _CLOSED.pop(name, None)


def run_shift_opened(shift: Shift) -> None:
    for name in sorted(_OPENED):
        _OPENED[name](shift)


def run_shift_closed(shift: Shift) -> None:
    for name in sorted(_CLOSED):
        _CLOSED[name](shift)
