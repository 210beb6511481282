"""The terminal's operations: each takes the terminal (authenticated, active) and the plain
message, calls the services, and returns the reply's fields. A refusal is a DomainError, which
the server turns into the error message (``errors.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from gridvend.terminals.errors import TerminalMessageInvalid
from gridvend.terminals.models import Terminal

Operation = Callable[[Terminal, dict[str, Any]], dict[str, Any]]


def text_field(
    message: dict[str, Any], name: str, *, max_length: int, required: bool = True
) -> str:
    """A string field of at most ``max_length`` printable characters."""
    value = message.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise TerminalMessageInvalid(problem=f"{name} must be a string")
    if len(value) > max_length or not value.isprintable():
        raise TerminalMessageInvalid(
            problem=f"{name} must be at most {max_length} printable characters"
        )
    return value


def ping(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The terminal checks that it can reach the gateway and that its key works."""
    agent = terminal.agent
    return {
        "ok": True,
        "terminal_id": terminal.terminal_id,
        "status": terminal.status,
        "agent": agent.full_name if agent is not None else "",
        "server_time": int(timezone.now().timestamp()),
    }


OPERATIONS: dict[str, Operation] = {
    "ping": ping,
}


def operation_name(message: dict[str, Any]) -> str:
    op = message.get("op")
    if not isinstance(op, str) or op not in OPERATIONS:
        raise TerminalMessageInvalid(problem="op is not one of the operations")
    return op
