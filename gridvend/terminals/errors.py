"""Refusals of the handheld terminals (set-up in the back office, and every frame the terminal
gateway refuses) with stable codes. The gateway maps them to its error frame in one place,
``gateways/terminals/errors.py``."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class TerminalErrorCode(StrEnum):
    TERMINAL_INVALID = "TERMINAL_INVALID"
    TERMINAL_TAKEN = "TERMINAL_TAKEN"
    TERMINAL_STATE_INVALID = "TERMINAL_STATE_INVALID"
    TERMINAL_FRAME_INVALID = "TERMINAL_FRAME_INVALID"
    TERMINAL_UNKNOWN = "TERMINAL_UNKNOWN"
    TERMINAL_NOT_ACTIVE = "TERMINAL_NOT_ACTIVE"
    TERMINAL_AUTH_FAILED = "TERMINAL_AUTH_FAILED"
    TERMINAL_REPLAY = "TERMINAL_REPLAY"
    TERMINAL_CLOCK_SKEW = "TERMINAL_CLOCK_SKEW"
    TERMINAL_ENROLMENT_REFUSED = "TERMINAL_ENROLMENT_REFUSED"
    TERMINAL_MESSAGE_INVALID = "TERMINAL_MESSAGE_INVALID"


class TerminalInvalid(DomainError):
    code = TerminalErrorCode.TERMINAL_INVALID
    message_template = gettext_lazy("The terminal setting %(field)s is not valid: %(problem)s.")

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem[:200])


class TerminalTaken(DomainError):
    code = TerminalErrorCode.TERMINAL_TAKEN
    message_template = gettext_lazy("Another terminal already uses this %(field)s.")

    def __init__(self, *, field: str) -> None:
        super().__init__(field=field)


class TerminalStateInvalid(DomainError):
    code = TerminalErrorCode.TERMINAL_STATE_INVALID
    message_template = gettext_lazy("Terminal %(terminal)s is %(status)s: this cannot be done now.")

    def __init__(self, *, terminal: str, status: str) -> None:
        super().__init__(terminal=terminal, status=status)


class TerminalFrameInvalid(DomainError):
    code = TerminalErrorCode.TERMINAL_FRAME_INVALID
    message_template = gettext_lazy("The frame could not be read: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class TerminalUnknown(DomainError):
    code = TerminalErrorCode.TERMINAL_UNKNOWN
    message_template = gettext_lazy("No terminal %(terminal)s is registered.")

    def __init__(self, *, terminal: str) -> None:
        super().__init__(terminal=terminal[:16])


class TerminalNotActive(DomainError):
    code = TerminalErrorCode.TERMINAL_NOT_ACTIVE
    message_template = gettext_lazy(
        "Terminal %(terminal)s is %(status)s and may not connect. Ask the service centre."
    )

    def __init__(self, *, terminal: str, status: str) -> None:
        super().__init__(terminal=terminal, status=status)


class TerminalAuthFailed(DomainError):
    code = TerminalErrorCode.TERMINAL_AUTH_FAILED
    message_template = gettext_lazy(
        "The message does not open with the terminal's key (changed, or the wrong key)."
    )


class TerminalReplay(DomainError):
    code = TerminalErrorCode.TERMINAL_REPLAY
    message_template = gettext_lazy(
        "Sequence number %(sequence)s was already used; the next must be above %(last)s."
    )

    def __init__(self, *, sequence: int, last: int) -> None:
        super().__init__(sequence=sequence, last=last)


class TerminalClockSkew(DomainError):
    code = TerminalErrorCode.TERMINAL_CLOCK_SKEW
    message_template = gettext_lazy(
        "The message's time is %(skew)s seconds away from the server's; at most %(allowed)s. "
        "Set the terminal's clock."
    )

    def __init__(self, *, skew: int, allowed: int) -> None:
        super().__init__(skew=skew, allowed=allowed)


class TerminalEnrolmentRefused(DomainError):
    code = TerminalErrorCode.TERMINAL_ENROLMENT_REFUSED
    message_template = gettext_lazy(
        "The enrolment was refused: %(problem)s. Ask the service centre for a new code."
    )

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class TerminalMessageInvalid(DomainError):
    code = TerminalErrorCode.TERMINAL_MESSAGE_INVALID
    message_template = gettext_lazy("The message is not valid: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class AgentErrorCode(StrEnum):
    AGENT_PIN_INVALID = "AGENT_PIN_INVALID"
    AGENT_PIN_WRONG = "AGENT_PIN_WRONG"
    AGENT_LOCKED = "AGENT_LOCKED"
    AGENT_SESSION_INVALID = "AGENT_SESSION_INVALID"
    TERMINAL_NOT_ASSIGNED = "TERMINAL_NOT_ASSIGNED"
    FIELD_NOT_ON_ROUTE = "FIELD_NOT_ON_ROUTE"


class AgentPinInvalid(DomainError):
    code = AgentErrorCode.AGENT_PIN_INVALID
    message_template = gettext_lazy("A PIN is 4 to 8 digits, not all the same.")


class AgentPinWrong(DomainError):
    code = AgentErrorCode.AGENT_PIN_WRONG
    message_template = gettext_lazy("The PIN is wrong. %(attempts_left)s attempts left.")

    def __init__(self, *, attempts_left: int) -> None:
        super().__init__(attempts_left=attempts_left)


class AgentLocked(DomainError):
    code = AgentErrorCode.AGENT_LOCKED
    message_template = gettext_lazy(
        "Too many wrong PINs: log-in is locked until %(until)s. Ask the service centre."
    )

    def __init__(self, *, until: str) -> None:
        super().__init__(until=until)


class AgentSessionInvalid(DomainError):
    code = AgentErrorCode.AGENT_SESSION_INVALID
    message_template = gettext_lazy("The log-in has ended or is not this terminal's. Log in again.")


class TerminalNotAssigned(DomainError):
    code = AgentErrorCode.TERMINAL_NOT_ASSIGNED
    message_template = gettext_lazy(
        "Terminal %(terminal)s has no field agent or no vending point. Ask the service centre."
    )

    def __init__(self, *, terminal: str) -> None:
        super().__init__(terminal=terminal)


class FieldNotOnRoute(DomainError):
    """A book, meter, reading or dunning task the agent asked about is not on their own routes
    in the terminal's service centre (someone else's, or unknown: the same answer)."""

    code = AgentErrorCode.FIELD_NOT_ON_ROUTE
    message_template = gettext_lazy("%(item)s %(value)s is not on your routes.")

    def __init__(self, *, item: str, value: str) -> None:
        super().__init__(item=item, value=value[:40])


class CashErrorCode(StrEnum):
    CASH_LIMIT_REACHED = "CASH_LIMIT_REACHED"
    CASH_LIMIT_INVALID = "CASH_LIMIT_INVALID"
    CASH_HAND_IN_INVALID = "CASH_HAND_IN_INVALID"
    CASH_HAND_IN_CHANGED = "CASH_HAND_IN_CHANGED"
    CASH_ALREADY_HANDED_IN = "CASH_ALREADY_HANDED_IN"


class CashLimitReached(DomainError):
    """A collection or cash sale would take the agent's cash in transit above the limit:
    nothing was written; the terminal is told the room left."""

    code = CashErrorCode.CASH_LIMIT_REACHED
    message_template = gettext_lazy(
        "Cash limit reached: %(room_minor)s minor units of room left under the limit of "
        "%(limit_minor)s. Hand the cash in at the office."
    )

    def __init__(
        self, *, held_minor: int, limit_minor: int, room_minor: int, amount_minor: int
    ) -> None:
        super().__init__(
            held_minor=held_minor,
            limit_minor=limit_minor,
            room_minor=room_minor,
            amount_minor=amount_minor,
        )


class CashLimitInvalid(DomainError):
    code = CashErrorCode.CASH_LIMIT_INVALID
    message_template = gettext_lazy("The cash limit must be between 0 and %(maximum)s.")

    def __init__(self, *, maximum: str) -> None:
        super().__init__(maximum=maximum)


class CashHandInInvalid(DomainError):
    code = CashErrorCode.CASH_HAND_IN_INVALID
    message_template = gettext_lazy("The hand-in is not valid: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class CashHandInChanged(DomainError):
    """The agent's cash changed (a collection, a reversal) between the screen and the submit:
    the office counts against the figure it saw, so nothing is booked."""

    code = CashErrorCode.CASH_HAND_IN_CHANGED
    message_template = gettext_lazy(
        "The agent's cash in transit changed to %(held)s while you counted. Look again."
    )

    def __init__(self, *, held: str) -> None:
        super().__init__(held=held)


class CashAlreadyHandedIn(DomainError):
    """A terminal's reversal of a collection whose cash the office already took in: the agent
    no longer holds it, so the reversal is the office's (the back office), not the terminal's."""

    code = CashErrorCode.CASH_ALREADY_HANDED_IN
    message_template = gettext_lazy(
        "The cash of %(receipt)s was already handed in at the office: ask the office to reverse it."
    )

    def __init__(self, *, receipt: str) -> None:
        super().__init__(receipt=receipt[:64])
