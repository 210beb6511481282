"""What apps above org check before a unit moves in the tree, declared from their
AppConfig.ready() so org never imports them: the offline stations refuse a move that would let
two stations sell to the same meters in one TID lane (gridvend.stations.services.lanes).

A check runs inside ``move_unit``'s transaction, with the rows of the unit's old and new chain
of ancestors locked and before any path changes: raising a DomainError refuses the move.
"""

from __future__ import annotations

from collections.abc import Callable

from gridvend.org.models import OrgUnit

MoveCheck = Callable[[OrgUnit, OrgUnit], None]

_CHECKS: dict[str, MoveCheck] = {}


def register_move_check(name: str, check: MoveCheck) -> None:
    """Declare ``check(unit, new_parent)``; the same name replaces it."""
    _CHECKS[name] = check


def run_move_checks(unit: OrgUnit, new_parent: OrgUnit) -> None:
    for name in sorted(_CHECKS):
        _CHECKS[name](unit, new_parent)
