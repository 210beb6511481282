"""The terminal's operations: each takes the terminal (authenticated, active) and the plain
message, calls the services, and returns the reply's fields. A refusal is a DomainError, which
the server turns into the error message (``errors.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone

from gridvend.billing import selectors as billing_selectors
from gridvend.billing.services import payments as billing_payments
from gridvend.gateways.terminals.cash import cash_operations
from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.ledger.services import today as ledger_today
from gridvend.org.models import Channel
from gridvend.terminals import selectors as terminal_selectors
from gridvend.terminals.errors import CashAlreadyHandedIn, TerminalMessageInvalid
from gridvend.terminals.models import Terminal
from gridvend.terminals.services import agents
from gridvend.vending.selectors import current_shift
from gridvend.vending.services import credit

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


MAX_AMOUNT_MINOR = 10**12
ORDER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def amount_field(message: dict[str, Any], name: str) -> int:
    """A positive whole number of minor units (a JSON integer, never a float or a string)."""
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT_MINOR:
        raise TerminalMessageInvalid(problem=f"{name} must be a whole number of minor units")
    return value


def order_field(message: dict[str, Any]) -> str:
    """The terminal's own order number: the sale's or payment's idempotency key."""
    order = text_field(message, "order", max_length=32)
    if not set(order) <= ORDER_CHARS:
        raise TerminalMessageInvalid(problem="order must be letters, digits and '-'")
    return order


def _agent(terminal: Terminal, message: dict[str, Any]) -> User:
    return agents.session_agent(terminal=terminal, token=message.get("session"))


def log_in(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    pin = text_field(message, "pin", max_length=8)
    session, token = agents.log_in(terminal=terminal, pin=pin)
    return {
        "ok": True,
        "session": token,
        "agent": session.agent.full_name,
        "expires_at": int(session.expires_at.timestamp()),
    }


def arrears(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """What a postpaid account owes now (the central billing's figures)."""
    agent = _agent(terminal, message)
    due = billing_selectors.account_due(agent, text_field(message, "account_number", max_length=40))
    return {
        "ok": True,
        "account_number": due.customer.account_number,
        "name": due.customer.name,
        "currency": due.currency,
        "total_due_minor": due.total_due_minor,
        "arrears_minor": due.arrears_minor,
        "late_fees_minor": due.late_fees_minor,
        "credit_minor": due.credit_minor,
        "open_bills": [
            {"bill": bill.number, "due_minor": bill.owed_minor}
            for bill in due.open_bills[:MAX_BILLS]
        ],
    }


MAX_BILLS = 24


def sell(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """Sell prepaid credit at the terminal's vending point (its float, the agent's shift) and
    return the tokens and the receipt's lines. The order number makes a repeat return the
    first sale."""
    agent = _agent(terminal, message)
    point = terminal.vending_point
    assert point is not None  # the log-in checked it
    result = credit.vend_credit(
        actor=agent,
        vending_point=point,
        client_reference=f"{terminal.terminal_id}:{order_field(message)}",
        meter_number=text_field(message, "meter_number", max_length=20),
        tender=Money(amount_field(message, "amount_minor"), settings.CURRENCY),
    )
    sale = result.sale
    return {
        "ok": True,
        "reference": sale.reference,
        "replayed": result.replayed,
        "meter_number": sale.meter.number,
        "currency": sale.currency,
        "amount_minor": sale.tender_minor,
        "tokens": [
            {"kind": token.kind, "digits": token.digits, "units": str(token.units or "")}
            for token in result.tokens
        ],
    }


def collect(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """Take a postpaid payment in cash (the central billing's payment, in the agent's shift at
    the terminal's point) and return the receipt's fields. The order number makes a repeat
    return the first payment."""
    agent = _agent(terminal, message)
    point = terminal.vending_point
    assert point is not None  # the log-in checked it
    account = text_field(message, "account_number", max_length=40)
    payment = billing_payments.take_payment(
        actor=agent,
        account_number=account,
        amount_minor=amount_field(message, "amount_minor"),
        currency=settings.CURRENCY,
        channel=Channel.HANDHELD,
        source_reference=f"{terminal.terminal_id}:{order_field(message)}",
        vending_point=point,
        shift=current_shift(agent, point),
    )
    due = billing_selectors.account_due(agent, payment.customer.account_number)
    return {
        "ok": True,
        "receipt": payment.source_reference,
        "account_number": payment.customer.account_number,
        "name": payment.customer.name,
        "currency": payment.currency,
        "amount_minor": payment.amount_minor,
        "paid_at": int(payment.paid_at.timestamp()),
        "status": payment.status,
        "total_due_after_minor": due.total_due_minor,
        "agent": agent.full_name,
        "terminal_id": terminal.terminal_id,
    }


def reverse(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """Cancel one of this terminal's collections, with a reason: the same business day, by the
    agent who took it while the shift is open (billing's rule)."""
    agent = _agent(terminal, message)
    reference = f"{terminal.terminal_id}:{order_field(message)}"
    reason = text_field(message, "reason", max_length=200)
    payment = billing_selectors.find_payment(
        agent, channel=Channel.HANDHELD, partner=None, source_reference=reference
    )

    def handed_in(_payment: object) -> None:
        # Checked under the agent's cash-in-transit lock the hand-in takes: a reversal racing
        # the hand-in is either before it (the hand-in sees the changed balance) or refused.
        raise CashAlreadyHandedIn(receipt=reference)

    cancelled = billing_payments.cancel_payment(
        actor=agent, payment=payment, reason=reason, handed_in=handed_in
    )
    return {
        "ok": True,
        "receipt": cancelled.source_reference,
        "status": cancelled.status,
        "currency": cancelled.currency,
        "amount_minor": cancelled.amount_minor,
        "account_number": cancelled.customer.account_number,
    }


def day_totals(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The agent's totals of today (the business day) at this terminal's point."""
    agent = _agent(terminal, message)
    totals = terminal_selectors.agent_day_totals(terminal, agent, ledger_today())
    return {
        "ok": True,
        "day": totals.day.isoformat(),
        "agent": agent.full_name,
        "terminal_id": terminal.terminal_id,
        "currency": settings.CURRENCY,
        "sales_count": totals.sales_count,
        "sales_minor": totals.sales_minor,
        "collections_count": totals.collections_count,
        "collections_minor": totals.collections_minor,
        "reversals_count": totals.reversals_count,
        "reversals_minor": totals.reversals_minor,
        "cash_minor": totals.cash_minor,
    }


OPERATIONS: dict[str, Operation] = {
    "ping": ping,
    "login": log_in,
    "arrears": arrears,
    "sell": sell,
    "collect": collect,
    "reverse": reverse,
    "day_totals": day_totals,
}
OPERATIONS.update(cash_operations(OPERATIONS))


def operation_name(message: dict[str, Any]) -> str:
    op = message.get("op")
    if not isinstance(op, str) or op not in OPERATIONS:
        raise TerminalMessageInvalid(problem="op is not one of the operations")
    return op


# The field operations (routes, readings, bill on site, dunning) add themselves on import.
from gridvend.gateways.terminals import field as _field  # noqa: E402, F401
