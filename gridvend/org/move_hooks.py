"""What apps above org check before a unit moves in the tree or a vending point changes status,
declared from their AppConfig.ready() so org never imports them: the offline stations refuse a
move that would let two stations sell to the same meters in one TID lane
(gridvend.stations.services.lanes), and the reopening of a revoked station's vending point.

A check runs inside ``move_unit``'s transaction, with the rows of the unit's old and new chain
of ancestors locked and before any path changes: raising a DomainError refuses the move.
"""

from __future__ import annotations

from collections.abc import Callable

from gridvend.org.models import OrgUnit, VendingPoint

MoveCheck = Callable[[OrgUnit, OrgUnit], None]
PointStatusCheck = Callable[[VendingPoint, str], None]

_CHECKS: dict[str, MoveCheck] = {}
_POINT_CHECKS: dict[str, PointStatusCheck] = {}


def register_move_check(name: str, check: MoveCheck) -> None:
    """Declare ``check(unit, new_parent)``; the same name replaces it."""
    _CHECKS[name] = check


def run_move_checks(unit: OrgUnit, new_parent: OrgUnit) -> None:
    for name in sorted(_CHECKS):
        _CHECKS[name](unit, new_parent)


def register_point_status_check(name: str, check: PointStatusCheck) -> None:
    """Declare ``check(point, new_status)``, run under the point's row lock before
    ``update_vending_point`` changes its status; raising a DomainError refuses the change. The
    same name replaces it."""
    _POINT_CHECKS[name] = check


def run_point_status_checks(point: VendingPoint, new_status: str) -> None:
    for name in sorted(_POINT_CHECKS):
        _POINT_CHECKS[name](point, new_status)
