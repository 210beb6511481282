"""Reads of the terminals: those in the actor's scope, one terminal, and its raw messages (the
auditor's only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, QuerySet, Sum

from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.org.models import Channel
from gridvend.terminals import permissions
from gridvend.terminals.models import (
    AgentCash,
    AgentDayEnd,
    CashHandIn,
    CashReconciliation,
    Terminal,
    TerminalMessage,
    TerminalSession,
)
from gridvend.vending.models import Sale


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


@dataclass(frozen=True)
class DayTotals:
    """A field agent's day at a terminal's vending point: what the agent hands in."""

    day: date
    sales_count: int
    sales_minor: int
    collections_count: int
    collections_minor: int
    reversals_count: int
    reversals_minor: int

    @property
    def cash_minor(self) -> int:
        """Cash the agent should hold: the sales and the collections not reversed."""
        return self.sales_minor + self.collections_minor - self.reversals_minor


def agent_day_totals(terminal: Terminal, agent: User, day: date) -> DayTotals:
    """The agent's sales, collections and reversals of collections at the terminal's point on
    ``day`` (its business day), as the gateway reports them at the end of the day."""
    sales = Sale.objects.filter(
        operator=agent, vending_point=terminal.vending_point, business_date=day
    ).aggregate(count=Count("pk"), total=Sum("tender_minor"))
    payments = BillPayment.objects.filter(
        channel=Channel.HANDHELD,
        vending_point=terminal.vending_point,
        shift__operator=agent,
        business_date=day,
    )
    taken = payments.aggregate(count=Count("pk"), total=Sum("amount_minor"))
    reversed_ = payments.filter(status=PaymentStatus.CANCELLED).aggregate(
        count=Count("pk"), total=Sum("amount_minor")
    )
    return DayTotals(
        day=day,
        sales_count=sales["count"],
        sales_minor=sales["total"] or 0,
        collections_count=taken["count"],
        collections_minor=taken["total"] or 0,
        reversals_count=reversed_["count"],
        reversals_minor=reversed_["total"] or 0,
    )


def list_agent_cash(actor: User) -> QuerySet[AgentCash]:
    """The field agents in scope who have a cash-in-transit account, most cash held first."""
    _require(permissions.can_view_agent_cash(actor))
    return scoped(
        AgentCash.objects.select_related("agent", "agent__org_unit", "account"),
        actor,
        path="agent__org_unit__path",
    ).order_by("-account__balance_minor", "agent__username")


def get_field_agent(actor: User, pk: int) -> User:
    """A field agent in the actor's subtree (404 otherwise, in scope or not)."""
    _require(permissions.can_view_agent_cash(actor))
    agent = get_scoped(User.objects.select_related("org_unit"), actor, pk=pk)
    if (
        not permissions.can_work_in_field(agent)
        and not AgentCash.objects.filter(agent=agent).exists()
    ):
        raise NotFound()
    return agent


def open_day_ends(actor: User, agent: User) -> QuerySet[AgentDayEnd]:
    """The agent's reported days the office has not yet confirmed with a hand-in."""
    _require(permissions.can_view_agent_cash(actor))
    return AgentDayEnd.objects.filter(agent=agent, hand_in__isnull=True).select_related("terminal")


def recent_hand_ins(actor: User, agent: User) -> QuerySet[CashHandIn]:
    _require(permissions.can_view_agent_cash(actor))
    return scoped(
        CashHandIn.objects.filter(agent=agent).select_related("received_by"), actor
    ).order_by("-received_at", "-pk")


def list_cash_reconciliations(
    actor: User, *, only_differences: bool = False
) -> QuerySet[CashReconciliation]:
    """The daily reconciliation's results in scope, newest day first."""
    _require(permissions.can_view_agent_cash(actor))
    found = scoped(CashReconciliation.objects.select_related("agent", "org_unit"), actor)
    if only_differences:
        found = found.filter(is_clean=False)
    return found.order_by("-business_date", "agent__username")
