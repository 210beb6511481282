"""The agent's cash in transit over the gateway: the cash limit around a collection and a cash
sale (a refusal names the room left, CASH_LIMIT_REACHED), the cash held and the room left in
every reply that moves it, and the terminal's end of day (``day_end``), which the office
confirms at the hand-in. The operations here wrap those of ``handlers`` (the registry there)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gridvend.identity.models import User
from gridvend.ledger.errors import BalanceLimitReached
from gridvend.ledger.services import today as ledger_today
from gridvend.terminals import selectors as terminal_selectors
from gridvend.terminals.errors import TerminalMessageInvalid
from gridvend.terminals.models import Terminal
from gridvend.terminals.services import agents
from gridvend.terminals.services import cash as cash_services

Operation = Callable[[Terminal, dict[str, Any]], dict[str, Any]]
# A day's count or sum as the terminal reports it: a whole number, bounded.
MAX_FIGURE = 10**12


def _agent(terminal: Terminal, message: dict[str, Any]) -> User:
    return agents.session_agent(terminal=terminal, token=message.get("session"))


def _cash_fields(agent: User) -> dict[str, Any]:
    position = cash_services.cash_position(agent)
    return {
        "agent_id": agent.pk,
        "cash_held_minor": position.held_minor,
        "cash_limit_minor": position.limit_minor,
        "cash_room_minor": position.room_minor,
    }


def _moves_agents_cash(terminal: Terminal, operation: str) -> bool:
    """A sale at a point with a float draws the float, not the agent's cash."""
    point = terminal.vending_point
    return operation != "sell" or (point is not None and not point.uses_float)


def with_cash(operation: str, base: Operation) -> Operation:
    """``base`` under the agent's cash limit: the account exists (with its limit) before the
    first posting, a posting the database refuses as above the limit is CASH_LIMIT_REACHED
    with the room left, and the reply tells the agent's cash and room."""

    def run(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
        agent = _agent(terminal, message)
        cash_services.agent_cash(agent)
        try:
            result = base(terminal, message)
        except BalanceLimitReached as exc:
            if not cash_services.is_agents_account(agent, str(exc.params.get("account", ""))):
                raise
            amount = message.get("amount_minor")
            raise cash_services.limit_refusal(
                agent, amount if isinstance(amount, int) else 0
            ) from exc
        if not _moves_agents_cash(terminal, operation):
            return {**result, "agent_id": agent.pk}
        return {**result, **_cash_fields(agent)}

    run.__doc__ = base.__doc__
    return run


def _figure(message: dict[str, Any], name: str) -> int:
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FIGURE:
        raise TerminalMessageInvalid(problem=f"{name} must be a whole number from 0")
    return value


def day_end(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The agent's end of day: the terminal's own totals of today, kept beside the central
    ledger's until the office confirms them when the cash is handed in."""
    agent = _agent(terminal, message)
    reported = {name: _figure(message, name) for name in cash_services.FIGURES}
    totals = terminal_selectors.agent_day_totals(terminal, agent, ledger_today())
    central = cash_services.central_figures(totals)
    recorded = cash_services.record_day_end(
        terminal=terminal, agent=agent, reported=reported, central=central
    )
    return {
        "ok": True,
        "day": recorded.business_date.isoformat(),
        "matching": recorded.is_matching,
        "central": central,
        "confirmed": recorded.hand_in_id is not None,
        **_cash_fields(agent),
    }


def cash_operations(operations: dict[str, Operation]) -> dict[str, Operation]:
    """The registry's entries this module adds or wraps."""
    wrapped = {name: with_cash(name, operations[name]) for name in ("collect", "sell", "reverse")}
    totals = operations["day_totals"]

    def day_totals(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
        result = totals(terminal, message)
        return {**result, **_cash_fields(_agent(terminal, message))}

    day_totals.__doc__ = totals.__doc__
    return {**wrapped, "day_totals": day_totals, "day_end": day_end}
