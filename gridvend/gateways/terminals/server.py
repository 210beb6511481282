"""The terminal gateway's TCP server: one port, a thread per connection, one transaction per
connection (the handhelds connect over GPRS for each).

For each connection: a session row; the request's bytes stored as they came, before they are
read, and again in the clear once they open; the reply stored in the clear and as sent (the
clear copies with the key, PIN and token redacted, ``gateway.store_terminal_message``). A frame
that cannot be read, a terminal unknown, not active or whose message does not open with its key
is answered with an unencrypted error frame (cipher 0): the gateway cannot or will not write to
it under a key. A message that opens but is refused (a replay, a clock too far off, a refusal
of the business) is answered under the terminal's key. A client that sends nothing whole within
the read timeout is closed with nothing written; one that closes mid-frame is not answered.
Nothing but the session and its messages is written for a refused frame.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from gridvend.gateways.banklink.framing import FrameError, FrameReader, FrameSpec
from gridvend.gateways.tcp import BoundedThreadingServer, Deadline
from gridvend.gateways.terminals import handlers, protocol
from gridvend.gateways.terminals.errors import error_message
from gridvend.kernel.errors import DomainError
from gridvend.terminals.errors import (
    TerminalAuthFailed,
    TerminalClockSkew,
    TerminalFrameInvalid,
    TerminalMessageInvalid,
)
from gridvend.terminals.models import (
    Direction,
    SessionOutcome,
    Stage,
    Terminal,
    TerminalSession,
)
from gridvend.terminals.services import gateway

logger = logging.getLogger(__name__)


def frame_spec() -> FrameSpec:
    """A 2-byte big-endian length counting the body alone, the body at most the set limit."""
    return FrameSpec(
        header_width=2,
        binary_header=True,
        length_includes_header=False,
        charset="utf-8",
        max_body_bytes=settings.TERMINALS_MAX_BODY_BYTES,
    )


@dataclass
class Exchange:
    """What one request came to: the reply's body, what to store, how the session ends."""

    reply: bytes
    outcome: str = SessionOutcome.ANSWERED
    operation: str = ""
    error_code: str = ""
    note: str = ""
    plain_in: bytes | None = None
    plain_out: bytes | None = None
    terminal: Terminal | None = None


def _clear_error(exc: DomainError, header: protocol.Header | None) -> Exchange:
    """An unencrypted error frame, for a message the gateway could not open."""
    reply_header = protocol.Header(
        cipher=protocol.CIPHER_NONE,
        direction=protocol.TO_TERMINAL,
        terminal_id=header.terminal_id if header is not None else "",
        key_version=header.key_version if header is not None else 0,
        sequence=header.sequence if header is not None else 1,
        sent_at=int(timezone.now().timestamp()),
    )
    plain = protocol.encode_message(error_message(exc))
    return Exchange(
        reply=protocol.seal(reply_header, b"", plain),
        outcome=SessionOutcome.REFUSED,
        error_code=exc.code,
        note=exc.message[:200],
        plain_out=plain,
    )


def _sealed_reply(
    header: protocol.Header, key: bytes, message: dict[str, Any]
) -> tuple[bytes, bytes]:
    reply_header = protocol.Header(
        cipher=header.cipher,
        direction=protocol.TO_TERMINAL,
        terminal_id=header.terminal_id,
        key_version=header.key_version,
        sequence=header.sequence,
        sent_at=int(timezone.now().timestamp()),
    )
    plain = protocol.encode_message(message)
    return protocol.seal(reply_header, key, plain), plain


def _check_clock(header: protocol.Header) -> None:
    allowed = settings.TERMINALS_CLOCK_SKEW_SECONDS
    skew = header.sent_at - int(timezone.now().timestamp())
    if abs(skew) > allowed:
        raise TerminalClockSkew(skew=max(min(skew, 10**9), -(10**9)), allowed=allowed)


def answer(body: bytes, session: TerminalSession) -> Exchange:
    """The reply to one request's body (its header already stored as raw bytes)."""
    try:
        header = protocol.parse_header(body)
    except protocol.EnvelopeError as exc:
        return _clear_error(TerminalFrameInvalid(problem=exc.problem), None)
    if header.direction != protocol.TO_GATEWAY or header.cipher == protocol.CIPHER_NONE:
        return _clear_error(TerminalFrameInvalid(problem="not a terminal's request"), header)
    try:
        terminal = gateway.find_terminal(header.terminal_id)
    except DomainError as exc:
        return _clear_error(exc, header)
    # Filed under the terminal its header names, for the auditor, before it is authenticated:
    # only a message that opens below counts as the terminal's contact (gateway.contact_count).
    gateway.note_terminal(session, terminal)
    enrolling = header.key_version == 0
    try:
        gateway.require_terminal_active(terminal, enrolling=enrolling)
        if protocol.cipher_number(terminal.cipher) != header.cipher:
            raise TerminalAuthFailed()
        if enrolling:
            code = gateway.enrolment_code(terminal)
            key = protocol.enrolment_key(code, terminal.terminal_id) if code else None
        elif header.key_version == terminal.key_version:
            key = gateway.terminal_key(terminal)
        else:
            key = None
        if key is None:
            raise TerminalAuthFailed()
        try:
            _, plain = protocol.open_body(body, key)
        except protocol.EnvelopeError as exc:
            if exc.tag:
                raise TerminalAuthFailed() from None
            raise TerminalFrameInvalid(problem=exc.problem) from None
    except DomainError as exc:
        refused = _clear_error(exc, header)
        refused.terminal = terminal
        return refused
    gateway.store_terminal_message(
        session=session, direction=Direction.IN, stage=Stage.PLAIN, content=plain
    )
    operation = ""
    try:
        _check_clock(header)
        try:
            message = protocol.decode_message(plain)
        except protocol.EnvelopeError as exc:
            raise TerminalMessageInvalid(problem=exc.problem) from None
        if enrolling:
            operation = "enrol"
            if message.get("op") != "enrol":
                raise TerminalMessageInvalid(problem="a message under the enrolment code enrols")
            result = _enrol(terminal, code or "", message)
        else:
            operation = handlers.operation_name(message)
            gateway.accept_sequence(
                terminal=terminal,
                key_version=header.key_version,
                sequence=header.sequence,
                app_version=str(message.get("app_version") or "")[:32],
            )
            result = handlers.OPERATIONS[operation](terminal, message)
    except DomainError as exc:
        reply, plain_out = _sealed_reply(header, key, error_message(exc))
        return Exchange(
            reply=reply,
            outcome=SessionOutcome.REFUSED,
            operation=operation,
            error_code=exc.code,
            note=exc.message[:200],
            plain_out=plain_out,
            terminal=terminal,
        )
    reply, plain_out = _sealed_reply(header, key, result)
    return Exchange(reply=reply, operation=operation, plain_out=plain_out, terminal=terminal)


def _enrol(terminal: Terminal, code: str, message: dict[str, Any]) -> dict[str, Any]:
    device = gateway.Device(
        serial_number=handlers.text_field(message, "serial_number", max_length=32),
        imsi=handlers.text_field(message, "imsi", max_length=15),
        imei=handlers.text_field(message, "imei", max_length=15),
        app_version=handlers.text_field(message, "app_version", max_length=32),
    )
    enrolled, key = gateway.enrol(terminal=terminal, code=code, device=device)
    return {
        "ok": True,
        "terminal_id": enrolled.terminal_id,
        "key": key.hex(),
        "key_version": enrolled.key_version,
        "cipher": enrolled.cipher,
    }


class _Handler(socketserver.BaseRequestHandler):
    server: TerminalServer

    def handle(self) -> None:
        try:
            self._serve()
        except Exception:
            logger.exception("terminal connection failed")
        finally:
            connections.close_all()

    def _serve(self) -> None:
        close_old_connections()
        sock: socket.socket = self.request
        session = gateway.open_terminal_session(
            peer_host=self.client_address[0], peer_port=int(self.client_address[1])
        )
        outcome: str = SessionOutcome.CLOSED
        result: Exchange | None = None
        note = ""
        try:
            outcome, note, result = self._one(session, sock)
        except OSError as exc:
            outcome, note = SessionOutcome.CLOSED, f"connection error: {type(exc).__name__}"
        finally:
            gateway.close_terminal_session(
                session,
                outcome=outcome,
                operation=result.operation if result else "",
                error_code=result.error_code if result else "",
                note=note or (result.note if result else ""),
            )

    def _one(
        self, session: TerminalSession, sock: socket.socket
    ) -> tuple[str, str, Exchange | None]:
        spec = frame_spec()
        deadline = Deadline(sock, self.server.read_timeout)
        reader = FrameReader(spec, deadline.recv)
        while True:
            try:
                body = reader.read()
            except FrameError as exc:
                return self._refuse_frame(session, sock, reader, exc)
            if body is None:
                return SessionOutcome.CLOSED, "", None
            incoming = bytes(reader.raw_consumed)
            reader.raw_consumed.clear()
            gateway.store_terminal_message(
                session=session, direction=Direction.IN, stage=Stage.WIRE, content=incoming
            )
            if body == b"":
                # A keep-alive is echoed; it does not restart the read timeout.
                sock.sendall(spec.header(0))
                continue
            break
        result = answer(body, session)
        if result.plain_out is not None:
            gateway.store_terminal_message(
                session=session,
                direction=Direction.OUT,
                stage=Stage.PLAIN,
                content=result.plain_out,
            )
        reply = spec.frame(result.reply)
        sock.sendall(reply)
        gateway.store_terminal_message(
            session=session, direction=Direction.OUT, stage=Stage.WIRE, content=reply
        )
        return result.outcome, "", result

    def _refuse_frame(
        self,
        session: TerminalSession,
        sock: socket.socket,
        reader: FrameReader,
        exc: FrameError,
    ) -> tuple[str, str, Exchange | None]:
        consumed = bytes(reader.raw_consumed) + reader.pending()
        if consumed:
            gateway.store_terminal_message(
                session=session,
                direction=Direction.IN,
                stage=Stage.WIRE,
                content=consumed,
                problem=str(exc),
            )
        if exc.reason == FrameError.TIMEOUT:
            return SessionOutcome.TIMED_OUT, str(exc), None
        if exc.reason == FrameError.TRUNCATED:
            # The terminal closed its side: there is nobody to answer.
            return SessionOutcome.REFUSED, str(exc), None
        # A length above the limit: answered, never read further.
        result = _clear_error(TerminalFrameInvalid(problem=str(exc)), None)
        reply = frame_spec().frame(result.reply)
        try:
            sock.sendall(reply)
        except OSError:
            return SessionOutcome.REFUSED, str(exc), result
        gateway.store_terminal_message(
            session=session, direction=Direction.OUT, stage=Stage.WIRE, content=reply
        )
        return SessionOutcome.REFUSED, str(exc), result


class TerminalServer(BoundedThreadingServer):
    """The terminal gateway's listener."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        read_timeout: float | None = None,
        max_connections: int | None = None,
    ) -> None:
        self.read_timeout = float(read_timeout or settings.TERMINALS_READ_TIMEOUT_SECONDS)
        super().__init__(
            address,
            _Handler,
            max_connections=max_connections or settings.TERMINALS_MAX_CONNECTIONS,
        )


def serve(
    *,
    host: str,
    port: int,
    ready: Callable[[TerminalServer], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or the process is stopped)."""
    server = TerminalServer((host, port))
    thread = threading.Thread(target=server.serve_forever, name="terminals")
    thread.start()
    if ready is not None:
        ready(server)
    try:
        (stop or threading.Event()).wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
