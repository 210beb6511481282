"""A handheld terminal's side of the protocol, in plain Python (sockets, no Django): what the
`gridvend terminal` simulator and the tests speak, and a reference for device makers.

One request per connection: connect, send one frame, read one frame, close.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gridvend.gateways.banklink.framing import FrameError, FrameReader, FrameSpec
from gridvend.gateways.terminals import protocol

MAX_REPLY_BYTES = 65535


def frame_spec() -> FrameSpec:
    return FrameSpec(header_width=2, binary_header=True, charset="utf-8", max_body_bytes=65535)


class GatewayRefused(Exception):
    """The gateway answered with an error: ``code`` is its stable code."""

    def __init__(self, code: str, message: str, *, encrypted: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.encrypted = encrypted


class NoReply(Exception):
    """The gateway closed the connection without a whole reply."""


@dataclass
class TerminalState:
    """What the terminal keeps: its id, cipher, key and the last sequence number it used."""

    terminal_id: str
    cipher: str = "aes256gcm"
    key_hex: str = ""
    key_version: int = 0
    sequence: int = 0
    # The agent's log-in token (from `login`), sent with each operation that needs one.
    session: str = ""

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> TerminalState:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def exchange_bytes(host: str, port: int, framed: bytes, *, timeout: float = 30) -> bytes:
    """Send one framed request; the reply's body (NoReply when the gateway closed first, or
    sent no whole reply within ``timeout`` seconds: it may still have done the request, so a
    sale or collection is sent again under the same order number)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(framed)
        reader = FrameReader(frame_spec(), sock.recv)
        try:
            body = reader.read()
        except FrameError as exc:
            raise NoReply(f"no whole reply from the gateway ({exc.reason})") from None
    if not body:
        raise NoReply("the gateway closed the connection without a reply")
    return body


class Terminal:
    """A terminal speaking to the gateway at ``host``:``port``."""

    def __init__(self, host: str, port: int, state: TerminalState, *, timeout: float = 30) -> None:
        self.host = host
        self.port = port
        self.state = state
        self.timeout = timeout
        self.last_request: bytes = b""

    def _next_sequence(self) -> int:
        # Above the last one used, and above the clock's milliseconds: a terminal that lost its
        # state file still moves forward.
        self.state.sequence = max(self.state.sequence + 1, int(time.time() * 1000))
        return self.state.sequence

    def build(self, message: dict[str, Any], *, key: bytes, key_version: int) -> bytes:
        header = protocol.Header(
            cipher=protocol.cipher_number(self.state.cipher),
            direction=protocol.TO_GATEWAY,
            terminal_id=self.state.terminal_id,
            key_version=key_version,
            sequence=self._next_sequence(),
            sent_at=int(time.time()),
        )
        return frame_spec().frame(protocol.seal(header, key, protocol.encode_message(message)))

    def send(self, framed: bytes, *, key: bytes) -> dict[str, Any]:
        """Send a built request; the reply's message, or GatewayRefused."""
        self.last_request = framed
        body = exchange_bytes(self.host, self.port, framed, timeout=self.timeout)
        header = protocol.parse_header(body)
        if header.cipher == protocol.CIPHER_NONE:
            reply = protocol.decode_message(body[protocol.HEADER_BYTES :])
            error = reply.get("error") or {}
            raise GatewayRefused(str(error.get("code")), str(error.get("message")), encrypted=False)
        request_header = protocol.parse_header(framed[2:])
        if header.direction != protocol.TO_TERMINAL or header.sequence != request_header.sequence:
            raise NoReply("the reply is not to this request")
        _, plain = protocol.open_body(body, key)
        reply = protocol.decode_message(plain)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise GatewayRefused(str(error.get("code")), str(error.get("message")), encrypted=True)
        return reply

    def enrol(
        self, code: str, *, serial_number: str, imsi: str, imei: str, app_version: str
    ) -> dict[str, Any]:
        """Enrol with the one-time code; the new key is kept in the state."""
        key = protocol.enrolment_key(code, self.state.terminal_id)
        framed = self.build(
            {
                "op": "enrol",
                "serial_number": serial_number,
                "imsi": imsi,
                "imei": imei,
                "app_version": app_version,
            },
            key=key,
            key_version=0,
        )
        reply = self.send(framed, key=key)
        self.state.key_hex = str(reply["key"])
        self.state.key_version = int(reply["key_version"])
        self.state.sequence = 0
        return reply

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.state.key_hex)

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """One operation under the terminal's key (with the agent's log-in, when there is one)."""
        message = {"op": op, **fields}
        if self.state.session and op not in ("ping", "login"):
            message.setdefault("session", self.state.session)
        framed = self.build(message, key=self.key, key_version=self.state.key_version)
        return self.send(framed, key=self.key)

    def login(self, pin: str) -> dict[str, Any]:
        reply = self.request("login", pin=pin)
        self.state.session = str(reply["session"])
        return reply
