"""The audit event types that the terminal services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class TerminalEvent(StrEnum):
    REGISTERED = "terminal.registered"
    ENROLLED = "terminal.enrolled"
    ASSIGNED = "terminal.assigned"
    SUSPENDED = "terminal.suspended"
    REINSTATED = "terminal.reinstated"
    REVOKED = "terminal.revoked"
    KEY_ROTATION_STARTED = "terminal.key_rotation_started"
    AGENT_PIN_SET = "terminal_agent.pin_set"
    AGENT_LOGGED_IN = "terminal_agent.logged_in"
    # A wrong PIN on a terminal, and the lockout the last allowed one starts (the auditor's
    # trace of a PIN being guessed on a lost or stolen handheld).
    AGENT_PIN_REFUSED = "terminal_agent.pin_refused"
    AGENT_LOCKED_OUT = "terminal_agent.locked_out"
    CASH_LIMIT_SET = "terminal_agent.cash_limit_set"
    CASH_HANDED_IN = "terminal_agent.cash_handed_in"
    DAY_END_REPORTED = "terminal_agent.day_end_reported"
    CASH_RECONCILED = "terminal_agent.cash_reconciled"
    CASH_DIFFERENCE_FOUND = "terminal_agent.cash_difference_found"
