"""Reads of the terminals: those in the actor's scope, one terminal, and its raw messages (the
auditor's only)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.terminals import permissions
from gridvend.terminals.models import Terminal, TerminalMessage, TerminalSession


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def list_terminals(actor: User, *, status: str = "", q: str = "") -> QuerySet[Terminal]:
    """The terminals in scope, by status and by terminal id, serial or IMEI."""
    _require(permissions.can_view_terminals(actor))
    found = scoped(Terminal.objects.select_related("org_unit", "agent", "vending_point"), actor)
    if status:
        found = found.filter(status=status)
    if q:
        found = found.filter(Q(terminal_id__iexact=q) | Q(serial_number__iexact=q) | Q(imei=q))
    return found


def get_terminal(actor: User, pk: int) -> Terminal:
    _require(permissions.can_view_terminals(actor))
    return get_scoped(
        Terminal.objects.select_related("org_unit", "agent", "vending_point"), actor, pk=pk
    )


def recent_sessions(actor: User, terminal: Terminal) -> QuerySet[TerminalSession]:
    _require(permissions.can_view_terminals(actor))
    return TerminalSession.objects.filter(terminal=terminal).order_by("-opened_at", "-pk")


def list_raw_messages(actor: User, terminal: Terminal) -> QuerySet[TerminalMessage]:
    """The terminal's messages on the wire and decrypted; frames no terminal could be named
    for are read by the administrator in the operation log's sessions, not here."""
    _require(permissions.can_read_raw_messages(actor))
    return scoped(
        TerminalMessage.objects.filter(terminal=terminal).select_related("session").order_by("-pk"),
        actor,
        path="terminal__org_unit__path",
    )
