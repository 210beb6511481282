"""The back office's writes on terminals: register one (a one-time enrolment code), assign it to
a field agent and a service centre, suspend, reinstate or revoke it, and rotate its key.

Suspension and revocation take effect at the terminal's next connection: every frame is checked
against the terminal's status as the gateway reads it from the database. A key rotation issues a
new one-time code; the terminal re-enrols with it from the same device (serial, IMSI and IMEI)
and gets a new key, and the old key stops working at that moment. A terminal thought stolen is
revoked, which stops the old key at once.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.changes import audited_change, record_created
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.keys import crypto
from gridvend.org.models import Channel, OrgUnit, VendingPoint
from gridvend.terminals import permissions
from gridvend.terminals.errors import TerminalInvalid, TerminalStateInvalid, TerminalTaken
from gridvend.terminals.events import TerminalEvent
from gridvend.terminals.models import Cipher, Terminal, TerminalStatus
from gridvend.terminals.services import agents

TERMINAL_ID = re.compile(r"[A-Z0-9]{4,16}")
# 20 characters of RFC 4648 base32: 100 bits, read aloud or typed on the handheld's keypad.
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CODE_LENGTH = 20
MAX_REASON = 200


def new_enrolment_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _require_manager(actor: User, unit: OrgUnit) -> None:
    if not permissions.can_manage_terminals(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, unit)


def _seal_code(terminal: Terminal, code: str) -> None:
    sealed = crypto.seal(code.encode("ascii"), key_ref=terminal.enrolment_ref)
    terminal.enrolment_nonce = sealed.nonce
    terminal.enrolment_ciphertext = sealed.ciphertext
    terminal.enrolment_tag = sealed.tag
    terminal.enrolment_master_id = sealed.master_id
    terminal.enrolment_expires_at = timezone.now() + timedelta(
        hours=settings.TERMINALS_ENROLMENT_HOURS
    )


def _reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not cleaned:
        raise TerminalInvalid(field="reason", problem="a reason is required")
    if len(cleaned) > MAX_REASON:
        raise TerminalInvalid(field="reason", problem="at most 200 characters")
    return cleaned


def register_terminal(
    *, actor: User, terminal_id: str, org_unit: OrgUnit, cipher: str = Cipher.AES_GCM
) -> tuple[Terminal, str]:
    """A new terminal of ``org_unit`` (its service centre), waiting for its device to enrol;
    the one-time code the device enrols with (shown once, never stored in the clear)."""
    _require_manager(actor, org_unit)
    wanted = terminal_id.strip().upper()
    if not TERMINAL_ID.fullmatch(wanted):
        raise TerminalInvalid(field="terminal_id", problem="4 to 16 letters A-Z and digits")
    if cipher not in Cipher.values:
        raise TerminalInvalid(field="cipher", problem="AES-256-GCM or 3DES-CBC with MAC")
    code = new_enrolment_code()
    try:
        with transaction.atomic(durable=True):
            terminal = Terminal.objects.create(terminal_id=wanted, org_unit=org_unit, cipher=cipher)
            _seal_code(terminal, code)
            terminal.save(
                update_fields=[
                    "enrolment_nonce",
                    "enrolment_ciphertext",
                    "enrolment_tag",
                    "enrolment_master_id",
                    "enrolment_expires_at",
                ]
            )
            record_created(actor=actor, instance=terminal, event=TerminalEvent.REGISTERED)
    except IntegrityError:
        raise TerminalTaken(field="terminal_id") from None
    return terminal, code


def _locked(terminal: Terminal) -> Terminal:
    return Terminal.objects.select_for_update().select_related("org_unit").get(pk=terminal.pk)


def assign_terminal(
    *,
    actor: User,
    terminal: Terminal,
    agent: User | None,
    org_unit: OrgUnit,
    vending_point: VendingPoint | None,
) -> Terminal:
    """Give the terminal to a field agent of its service centre, booking at ``vending_point``."""
    _require_manager(actor, terminal.org_unit)
    require_unit_in_scope(actor, org_unit)
    if agent is not None:
        if not permissions.can_work_in_field(agent):
            raise TerminalInvalid(field="agent", problem="not an active field agent")
        if not agent.org_unit.path.startswith(org_unit.path):
            raise TerminalInvalid(field="agent", problem="not a person of this service centre")
    if vending_point is not None:
        if vending_point.channel != Channel.HANDHELD:
            raise TerminalInvalid(field="vending_point", problem="not a handheld vending point")
        if not vending_point.org_unit.path.startswith(org_unit.path):
            raise TerminalInvalid(field="vending_point", problem="not of this service centre")
    with transaction.atomic(durable=True):
        locked = _locked(terminal)
        if locked.status == TerminalStatus.REVOKED:
            raise TerminalStateInvalid(terminal=locked.terminal_id, status=locked.status)
        with audited_change(
            actor=actor, instance=locked, event=TerminalEvent.ASSIGNED, skip_unchanged=True
        ):
            previous_agent_id = locked.agent_id
            locked.agent = agent
            locked.org_unit = org_unit
            locked.vending_point = vending_point
        if previous_agent_id != locked.agent_id:
            # The log-ins on it end: given back later, the earlier agent logs in again.
            agents.end_agent_sessions(terminal=locked, now=timezone.now())
    return locked


def _change_status(
    *,
    actor: User,
    terminal: Terminal,
    allowed: tuple[str, ...],
    to: str | None,
    event: str,
    reason: str,
) -> Terminal:
    """``to`` None: back to work, active when it holds a key, else waiting for enrolment."""
    _require_manager(actor, terminal.org_unit)
    cleaned = _reason(reason)
    with transaction.atomic(durable=True):
        locked = _locked(terminal)
        if locked.status not in allowed:
            raise TerminalStateInvalid(terminal=locked.terminal_id, status=locked.status)
        with audited_change(actor=actor, instance=locked, event=event):
            if to is None:
                to = TerminalStatus.ACTIVE if locked.key_version else TerminalStatus.PENDING
            locked.status = to
            locked.status_reason = cleaned
            if to == TerminalStatus.REVOKED:
                # Nothing of a revoked terminal opens again: its key and any code are dropped.
                _drop_code(locked)
                _drop_key(locked)
    return locked


def _drop_code(terminal: Terminal) -> None:
    terminal.enrolment_nonce = None
    terminal.enrolment_ciphertext = None
    terminal.enrolment_tag = None
    terminal.enrolment_master_id = ""
    terminal.enrolment_expires_at = None


def _drop_key(terminal: Terminal) -> None:
    terminal.key_nonce = None
    terminal.key_ciphertext = None
    terminal.key_tag = None
    terminal.key_master_id = ""


def suspend_terminal(*, actor: User, terminal: Terminal, reason: str) -> Terminal:
    return _change_status(
        actor=actor,
        terminal=terminal,
        allowed=(TerminalStatus.ACTIVE, TerminalStatus.PENDING),
        to=TerminalStatus.SUSPENDED,
        event=TerminalEvent.SUSPENDED,
        reason=reason,
    )


def reinstate_terminal(*, actor: User, terminal: Terminal, reason: str) -> Terminal:
    """Back to work: active when it holds a key, else waiting for its enrolment."""
    return _change_status(
        actor=actor,
        terminal=terminal,
        allowed=(TerminalStatus.SUSPENDED,),
        to=None,
        event=TerminalEvent.REINSTATED,
        reason=reason,
    )


def revoke_terminal(*, actor: User, terminal: Terminal, reason: str) -> Terminal:
    """For good: lost, stolen or retired. Its key is dropped; it never connects again."""
    return _change_status(
        actor=actor,
        terminal=terminal,
        allowed=(TerminalStatus.PENDING, TerminalStatus.ACTIVE, TerminalStatus.SUSPENDED),
        to=TerminalStatus.REVOKED,
        event=TerminalEvent.REVOKED,
        reason=reason,
    )


def rotate_key(*, actor: User, terminal: Terminal) -> tuple[Terminal, str]:
    """A new one-time code: the terminal re-enrols with it from the same device and gets a new
    key. Its current key works until then. A pending terminal gets a fresh enrolment code."""
    _require_manager(actor, terminal.org_unit)
    code = new_enrolment_code()
    with transaction.atomic(durable=True):
        locked = _locked(terminal)
        if locked.status not in (TerminalStatus.ACTIVE, TerminalStatus.PENDING):
            raise TerminalStateInvalid(terminal=locked.terminal_id, status=locked.status)
        with audited_change(
            actor=actor,
            instance=locked,
            event=TerminalEvent.KEY_ROTATION_STARTED,
            after_extra={"code_expires_at": "set"},
        ):
            _seal_code(locked, code)
    return locked, code
