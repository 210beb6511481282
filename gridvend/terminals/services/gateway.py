"""What the terminal gateway writes: a device's enrolment (binding and a new key), the replay
counter and last contact of each accepted message, and the store of sessions and raw messages.

Raw messages are written in their own short transactions, outside any business transaction: the
bytes that came in are kept before they are read, so that a frame the gateway refused is still
there for the auditor; the reply after it is sent. A decrypted message is kept with its secrets
(the terminal's key, the agent's PIN, the log-in's token) redacted: the store is read by people,
and whoever holds those could speak as the terminal or sell as the agent.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from gridvend.audit.changes import audited_change
from gridvend.keys import crypto
from gridvend.terminals.errors import (
    TerminalEnrolmentRefused,
    TerminalNotActive,
    TerminalReplay,
    TerminalUnknown,
)
from gridvend.terminals.events import TerminalEvent
from gridvend.terminals.models import (
    Direction,
    SessionOutcome,
    Stage,
    Terminal,
    TerminalMessage,
    TerminalSession,
    TerminalStatus,
)
from gridvend.terminals.services.setup import _drop_code

KEY_BYTES = 32
SERIAL = re.compile(r"[A-Za-z0-9-]{4,32}")
DIGITS = re.compile(r"[0-9]+")
APP_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,32}")


@dataclass(frozen=True)
class Device:
    """What a device says of itself when it enrols, each field checked by ``check_device``."""

    serial_number: str
    imsi: str
    imei: str
    app_version: str


def _imei_valid(imei: str) -> bool:
    """15 digits, the last a Luhn check digit over the first 14 (3GPP TS 23.003)."""
    if len(imei) != 15 or not DIGITS.fullmatch(imei):
        return False
    total = 0
    for index, char in enumerate(imei[:14]):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10 == int(imei[14])


def check_device(device: Device) -> Device:
    if not SERIAL.fullmatch(device.serial_number):
        raise TerminalEnrolmentRefused(problem="the serial number is 4 to 32 letters and digits")
    if not (6 <= len(device.imsi) <= 15 and DIGITS.fullmatch(device.imsi)):
        raise TerminalEnrolmentRefused(problem="the IMSI is 6 to 15 digits")
    if not _imei_valid(device.imei):
        raise TerminalEnrolmentRefused(problem="the IMEI is 15 digits with its check digit")
    if not APP_VERSION.fullmatch(device.app_version):
        raise TerminalEnrolmentRefused(problem="the app version is 1 to 32 plain characters")
    return device


def find_terminal(terminal_id: str) -> Terminal:
    terminal = (
        Terminal.objects.select_related("org_unit", "agent", "vending_point")
        .filter(terminal_id=terminal_id)
        .first()
    )
    if terminal is None:
        raise TerminalUnknown(terminal=terminal_id)
    return terminal


def require_terminal_active(terminal: Terminal, *, enrolling: bool = False) -> None:
    """A terminal connects while active; it enrols while pending, or active (re-enrolment with
    a rotation's code). Read from the database at each connection: a suspension or revocation
    takes effect at the next one."""
    allowed = (
        (TerminalStatus.ACTIVE, TerminalStatus.PENDING) if enrolling else (TerminalStatus.ACTIVE,)
    )
    if terminal.status not in allowed:
        raise TerminalNotActive(terminal=terminal.terminal_id, status=terminal.status)


def enrolment_code(terminal: Terminal) -> str | None:
    """The terminal's unused, unexpired one-time code, or None."""
    if terminal.enrolment_ciphertext is None or terminal.enrolment_expires_at is None:
        return None
    if terminal.enrolment_expires_at <= timezone.now():
        return None
    sealed = crypto.Sealed(
        bytes(terminal.enrolment_nonce or b""),
        bytes(terminal.enrolment_ciphertext),
        bytes(terminal.enrolment_tag or b""),
        terminal.enrolment_master_id,
    )
    return crypto.unseal(sealed, key_ref=terminal.enrolment_ref).decode("ascii")


def terminal_key(terminal: Terminal) -> bytes | None:
    """The terminal's current key, or None before its first enrolment or after revocation."""
    if terminal.key_ciphertext is None or not terminal.key_version:
        return None
    sealed = crypto.Sealed(
        bytes(terminal.key_nonce or b""),
        bytes(terminal.key_ciphertext),
        bytes(terminal.key_tag or b""),
        terminal.key_master_id,
    )
    return crypto.unseal(sealed, key_ref=terminal.key_ref)


def enrol(*, terminal: Terminal, code: str, device: Device) -> tuple[Terminal, bytes]:
    """Bind the device to the terminal and give it a new key; the code is used up.

    ``code`` is the one the gateway opened the enrolment message with; it is compared again
    under the row's lock, so two enrolments with one code cannot both succeed. A terminal
    already bound (a rotation) must be the same device."""
    checked = check_device(device)
    key = secrets.token_bytes(KEY_BYTES)
    with transaction.atomic(durable=True):
        locked = Terminal.objects.select_for_update().select_related("org_unit").get(pk=terminal.pk)
        require_terminal_active(locked, enrolling=True)
        current = enrolment_code(locked)
        if current is None or not hmac.compare_digest(current, code):
            raise TerminalEnrolmentRefused(problem="the code is used, expired or replaced")
        if locked.serial_number and (
            locked.serial_number,
            locked.imsi,
            locked.imei,
        ) != (checked.serial_number, checked.imsi, checked.imei):
            raise TerminalEnrolmentRefused(
                problem="this terminal is bound to another device (serial, IMSI or IMEI)"
            )
        with audited_change(actor=None, instance=locked, event=TerminalEvent.ENROLLED):
            locked.serial_number = checked.serial_number
            locked.imsi = checked.imsi
            locked.imei = checked.imei
            locked.app_version = checked.app_version
            locked.key_version += 1
            sealed = crypto.seal(key, key_ref=locked.key_ref)
            locked.key_nonce = sealed.nonce
            locked.key_ciphertext = sealed.ciphertext
            locked.key_tag = sealed.tag
            locked.key_master_id = sealed.master_id
            locked.last_sequence = 0
            locked.last_contact_at = timezone.now()
            locked.status = TerminalStatus.ACTIVE
            _drop_code(locked)
    return locked, key


def accept_sequence(
    *, terminal: Terminal, key_version: int, sequence: int, app_version: str = ""
) -> None:
    """Take ``sequence`` as the terminal's newest, if above every one accepted under this key,
    and note the contact; one conditional update, so two frames with one number cannot both
    pass. Refuses a replay, and a terminal suspended or revoked since it was read."""
    values: dict[str, object] = {"last_sequence": sequence, "last_contact_at": timezone.now()}
    if app_version and APP_VERSION.fullmatch(app_version):
        values["app_version"] = app_version
    with transaction.atomic():
        done = Terminal.objects.filter(
            pk=terminal.pk,
            status=TerminalStatus.ACTIVE,
            key_version=key_version,
            last_sequence__lt=sequence,
        ).update(**values)
    if done:
        return
    now = Terminal.objects.get(pk=terminal.pk)
    if now.status != TerminalStatus.ACTIVE:
        raise TerminalNotActive(terminal=now.terminal_id, status=now.status)
    raise TerminalReplay(sequence=sequence, last=now.last_sequence)


# Sessions and raw messages ----------------------------------------------------------------------


def _host(peer_host: str) -> str:
    try:
        return str(ipaddress.ip_address(peer_host.split("%")[0]))
    except ValueError:
        return "0.0.0.0"  # noqa: S104 (a peer we could not name: recorded, never bound)


def open_terminal_session(*, peer_host: str, peer_port: int) -> TerminalSession:
    with transaction.atomic():
        return TerminalSession.objects.create(peer_host=_host(peer_host), peer_port=peer_port)


def note_terminal(session: TerminalSession, terminal: Terminal) -> None:
    """The session and its messages so far are filed under ``terminal`` (named in the header,
    not yet authenticated: see ``contact_count``)."""
    with transaction.atomic():
        TerminalSession.objects.filter(pk=session.pk).update(terminal=terminal)
        TerminalMessage.objects.filter(session=session).update(terminal=terminal)
    session.terminal = terminal


# The fields of the terminal protocol that carry a secret: the enrolment reply's new key, the
# log-in request's PIN, and the log-in's token (in its reply and in every later request).
SECRET_FIELDS = frozenset({"key", "pin", "session"})
REDACTED = "[redacted]"
_SECRET_TEXT = re.compile(rb'("(?:key|pin|session)"\s*:\s*)(?:"(?:[^"\\]|\\.)*"?|[0-9]+)')


def _redact_value(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name in SECRET_FIELDS:
                out[name], changed = REDACTED, True
            else:
                out[name], inner = _redact_value(item)
                changed = changed or inner
        return out, changed
    if isinstance(value, list):
        items = [_redact_value(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    return value, False


def redact_plain(content: bytes) -> bytes:
    """A decrypted message with the value of every secret field replaced by ``[redacted]``;
    the bytes unchanged when it has none. A message that is not JSON (refused as such) has any
    secret-looking ``"pin":"..."`` text redacted all the same."""
    try:
        value = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _SECRET_TEXT.sub(rb'\1"' + REDACTED.encode() + rb'"', content)
    redacted, changed = _redact_value(value)
    if not changed:
        return content
    return json.dumps(redacted, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def store_terminal_message(
    *, session: TerminalSession, direction: str, stage: str, content: bytes, problem: str = ""
) -> TerminalMessage:
    """Store one message; a decrypted one (``Stage.PLAIN``) with its secrets redacted."""
    if direction not in Direction.values or stage not in Stage.values:
        raise ValueError(f"{direction} {stage}")
    if stage == Stage.PLAIN:
        content = redact_plain(bytes(content))
    with transaction.atomic():
        return TerminalMessage.objects.create(
            session=session,
            terminal=session.terminal,
            direction=direction,
            stage=stage,
            content=bytes(content),
            byte_count=len(content),
            problem=problem[:200],
        )


def close_terminal_session(
    session: TerminalSession,
    *,
    outcome: str,
    operation: str = "",
    error_code: str = "",
    note: str = "",
) -> None:
    if outcome not in SessionOutcome.values:
        raise ValueError(outcome)
    with transaction.atomic():
        TerminalSession.objects.filter(pk=session.pk).update(
            outcome=outcome,
            operation=operation[:24],
            error_code=error_code[:40],
            note=note[:200],
            closed_at=timezone.now(),
        )


def contacts(terminal: Terminal) -> QuerySet[TerminalSession]:
    """Sessions the terminal opened: those whose message opened under its key or enrolment code
    (the gateway stores a message decrypted only then). A session filed under the terminal
    because a frame named it in the clear header, but refused before it opened (a forgery, a
    wrong key, a suspended terminal), is an attempt on the terminal, not its contact."""
    return TerminalSession.objects.filter(
        terminal=terminal,
        pk__in=TerminalMessage.objects.filter(
            terminal=terminal, direction=Direction.IN, stage=Stage.PLAIN
        ).values("session_id"),
    )


def contact_count(terminal: Terminal) -> int:
    """How many sessions the terminal opened (``contacts``), for the back office."""
    return contacts(terminal).count()
