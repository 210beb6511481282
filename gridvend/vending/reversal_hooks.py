"""What apps above vending do when a sale is reversed, in the reversal's own transaction (billing
takes back the bill payment a sale's arrears recovery made), declared from their
AppConfig.ready() so vending never imports them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gridvend.identity.models import User
from gridvend.vending.models import Sale

# (the reversed sale; the debts it recovered, given back: [(debt id, minor units)]; who
# reversed it; when)
ReversalHook = Callable[[Sale, list[tuple[int, int]], User, datetime], None]

_HOOKS: dict[str, ReversalHook] = {}


def register_reversal_hook(name: str, hook: ReversalHook) -> None:
    """Declare a named hook (call it from an AppConfig.ready()); the same name replaces it."""
    _HOOKS[name] = hook


def run_reversal_hooks(
    sale: Sale, restored: list[tuple[int, int]], actor: User, now: datetime
) -> None:
    for name in sorted(_HOOKS):
        _HOOKS[name](sale, restored, actor, now)
