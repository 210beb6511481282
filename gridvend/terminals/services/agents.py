"""Field agents on terminals: the PIN a manager sets, the log-in on the terminal assigned to the
agent (with lockout after repeated wrong PINs), and the log-in's token each operation carries.

One connection is one transaction, so a log-in is not a connection: it is a token the terminal
keeps (its SHA-256 digest is stored) until it expires, the agent logs in again, or the terminal
is given to someone else. At log-in the agent's shift is opened at the terminal's handheld
vending point when the agent sells (holds the cashier capability) and has none open.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password
from django.db import transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.money import Money
from gridvend.terminals import permissions
from gridvend.terminals.errors import (
    AgentLocked,
    AgentPinInvalid,
    AgentPinWrong,
    AgentSessionInvalid,
    TerminalInvalid,
    TerminalNotAssigned,
)
from gridvend.terminals.events import TerminalEvent
from gridvend.terminals.models import AgentPin, AgentSession, Terminal
from gridvend.vending.selectors import current_shift
from gridvend.vending.services.shifts import open_shift

MAX_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=30)


class PinHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane) for the agents' PINs.

    The gateway checks a PIN at every log-in, and a whole service centre's agents log in within
    minutes of each other: at the staff passwords' cost (100 MiB, 8 lanes, about 0.1 s of
    every core each) 200 log-ins at once took the two cores of the gateway for minutes, and
    the sales and collections waiting behind them timed out (benchmarks/terminal_bench.py,
    docs/terminals.md "Capacity"). A PIN of 4 to 8 digits cannot withstand an offline search
    at any hash cost; what guards it is the lockout and the terminal's own key. A PIN hashed
    before this change still verifies (its parameters are in the hash) until it is set again.
    """

    time_cost = 2
    memory_cost = 19456
    parallelism = 1


PIN_HASHER = PinHasher()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def hash_pin(pin: str) -> str:
    """The stored form of an agent's PIN (``PinHasher``)."""
    return make_password(check_pin(pin), hasher=PIN_HASHER)


def check_pin(pin: str) -> str:
    if not (4 <= len(pin) <= 8 and pin.isascii() and pin.isdigit()) or len(set(pin)) == 1:
        raise AgentPinInvalid()
    return pin


def set_agent_pin(*, actor: User, agent: User, pin: str) -> None:
    """Set (or reset, which lifts a lockout) a field agent's PIN. The agent's log-ins made with
    the earlier PIN end: a PIN is reset because it was seen or guessed."""
    if not permissions.can_manage_terminals(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, agent.org_unit)
    if not permissions.can_work_in_field(agent):
        raise TerminalInvalid(field="agent", problem="not an active field agent")
    hashed = hash_pin(pin)
    with transaction.atomic(durable=True):
        now = timezone.now()
        AgentPin.objects.update_or_create(
            agent=agent,
            defaults={
                "pin_hash": hashed,
                "failed_attempts": 0,
                "locked_until": None,
                "set_at": now,
            },
        )
        end_agent_sessions(agent=agent, now=now)
        record(
            actor=actor,
            event_type=TerminalEvent.AGENT_PIN_SET,
            target=agent,
            target_type="identity.user",
        )


def end_agent_sessions(
    *, agent: User | None = None, terminal: Terminal | None = None, now: datetime
) -> int:
    """End the open log-ins of ``agent`` (on every terminal) or on ``terminal`` (whoever's);
    inside the caller's transaction."""
    if agent is None and terminal is None:
        raise ValueError("an agent or a terminal")
    rows = AgentSession.objects.filter(ended_at__isnull=True)
    if agent is not None:
        rows = rows.filter(agent=agent)
    if terminal is not None:
        rows = rows.filter(terminal=terminal)
    return rows.update(ended_at=now)


def _assigned(terminal: Terminal) -> User:
    agent = terminal.agent
    if agent is None or terminal.vending_point is None:
        raise TerminalNotAssigned(terminal=terminal.terminal_id)
    if not permissions.can_work_in_field(agent):
        raise TerminalNotAssigned(terminal=terminal.terminal_id)
    return agent


def log_in(*, terminal: Terminal, pin: str) -> tuple[AgentSession, str]:
    """The terminal's agent logs in with their PIN; a new token (the agent's earlier log-ins on
    this terminal end). A wrong PIN counts; the fifth in a row locks log-in for 30 minutes.

    The lockout is read, the PIN checked and a wrong one counted (and audited) under the PIN's
    row lock, so parallel log-ins check at most MAX_ATTEMPTS PINs before the lockout."""
    agent = _assigned(terminal)
    refusal: AgentLocked | AgentPinWrong | None = None
    with transaction.atomic(durable=True):
        stored = AgentPin.objects.select_for_update().filter(agent=agent).first()
        now = timezone.now()
        if stored is None:
            raise AgentPinWrong(attempts_left=0)
        if stored.locked_until is not None and stored.locked_until > now:
            raise AgentLocked(until=stored.locked_until.isoformat(timespec="minutes"))
        if check_password(pin, stored.pin_hash):
            token = secrets.token_hex(32)
            stored.failed_attempts = 0
            stored.locked_until = None
            stored.save(update_fields=["failed_attempts", "locked_until"])
            end_agent_sessions(terminal=terminal, now=now)
            session = AgentSession.objects.create(
                terminal=terminal,
                agent=agent,
                token_digest=_digest(token),
                expires_at=now + timedelta(hours=settings.TERMINALS_AGENT_SESSION_HOURS),
            )
            record(actor=agent, event_type=TerminalEvent.AGENT_LOGGED_IN, target=terminal)
        else:
            refusal = _count_failure(stored, terminal, now)
            token = ""
    if refusal is not None:
        # Raised once the count and its audit are committed.
        raise refusal
    _open_shift(agent, terminal)
    return session, token


def _count_failure(
    stored: AgentPin, terminal: Terminal, now: datetime
) -> AgentLocked | AgentPinWrong:
    """Count a wrong PIN on the locked row and audit it; the last allowed one locks log-in."""
    stored.failed_attempts += 1
    if stored.failed_attempts >= MAX_ATTEMPTS:
        stored.failed_attempts = 0
        stored.locked_until = now + LOCKOUT
        stored.save(update_fields=["failed_attempts", "locked_until"])
        record(
            actor=None,
            event_type=TerminalEvent.AGENT_LOCKED_OUT,
            target=terminal,
            after={"agent": stored.agent_id, "locked_until": stored.locked_until.isoformat()},
        )
        return AgentLocked(until=stored.locked_until.isoformat(timespec="minutes"))
    stored.save(update_fields=["failed_attempts"])
    record(
        actor=None,
        event_type=TerminalEvent.AGENT_PIN_REFUSED,
        target=terminal,
        after={"agent": stored.agent_id, "failed_attempts": stored.failed_attempts},
    )
    return AgentPinWrong(attempts_left=MAX_ATTEMPTS - stored.failed_attempts)


def _open_shift(agent: User, terminal: Terminal) -> None:
    point = terminal.vending_point
    assert point is not None
    if Capability.CASHIER not in agent.capability_set():
        return
    if current_shift(agent) is not None:
        return
    open_shift(
        actor=agent, vending_point=point, opening_float=Money.from_major("0", settings.CURRENCY)
    )


def session_agent(*, terminal: Terminal, token: object) -> User:
    """The agent logged in on this terminal with ``token``; AGENT_SESSION_INVALID otherwise (an
    unknown, ended or expired token, another terminal's, or an agent no longer assigned)."""
    if not isinstance(token, str) or len(token) != 64:
        raise AgentSessionInvalid()
    session = (
        AgentSession.objects.select_related("agent")
        .filter(token_digest=_digest(token), terminal=terminal, ended_at__isnull=True)
        .first()
    )
    if session is None or session.expires_at <= timezone.now():
        raise AgentSessionInvalid()
    if terminal.agent_id != session.agent_id:
        raise AgentSessionInvalid()
    if not permissions.can_work_in_field(session.agent):
        # Dismissed (deactivated) or no longer a field agent since the log-in.
        raise AgentSessionInvalid()
    return session.agent
