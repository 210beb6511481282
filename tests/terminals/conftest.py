"""The terminal tests' scene: a tree with a field agent of the north service centre, a terminal
registered there (its one-time code), and the gateway's server on an ephemeral port in a thread,
answering through the real services."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import OperationalError, connections

from gridvend.gateways.terminals import client
from gridvend.gateways.terminals.server import TerminalServer
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.org.models import Channel, VendingPoint
from gridvend.terminals.models import SessionOutcome, Terminal, TerminalSession
from gridvend.terminals.services import setup
from tests import factories

SERIAL = "HX-2024-00017"
IMSI = "639020123456789"
# 14 digits and their Luhn check digit.
IMEI = "490154203237518"


@dataclass
class Field:
    tree: factories.Tree
    manager: User  # vending-point manager of the north service centre
    agent: User
    point: VendingPoint
    terminal: Terminal
    code: str

    def fresh(self) -> Terminal:
        return Terminal.objects.get(pk=self.terminal.pk)


@pytest.fixture
def field() -> Field:
    tree = factories.Tree()
    manager = factories.user(tree.north_sc, Role.VENDING_POINT_MANAGER)
    agent = factories.user(tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    point = factories.vending_point(tree.north_sc, channel=Channel.HANDHELD)
    terminal, code = setup.register_terminal(
        actor=manager, terminal_id="HH0001", org_unit=tree.north_sc
    )
    terminal = setup.assign_terminal(
        actor=manager, terminal=terminal, agent=agent, org_unit=tree.north_sc, vending_point=point
    )
    return Field(tree, manager, agent, point, terminal, code)


class _TestGateway(TerminalServer):
    """The gateway as the tests run it. On SQLite's in-memory test database its handler threads
    use the test thread's own connection, as Django's live server does, one at a time: with a
    connection each, SQLite's shared cache locks tables between them and refuses a write
    outright ("database table is locked") instead of waiting, which made the tests fail under
    load. The tests wait for the handlers (``settle``) before they touch the database."""

    shared: dict[str, Any]
    # One connection serves one transaction at a time: while it is shared, the handlers take
    # turns (a simulator command may connect again before the last handler has written its
    # session's end; two handlers in one connection would nest their transactions).
    turns = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        if not self.shared:
            super().process_request_thread(request, client_address)
            return
        for alias, conn in self.shared.items():
            connections[alias] = conn
        with self.turns:
            super().process_request_thread(request, client_address)


@pytest.fixture
def gateway() -> Iterator[int]:
    """The gateway on an ephemeral port with a 1-second read timeout; its port."""
    listener = _TestGateway(("127.0.0.1", 0), read_timeout=1, max_connections=_SLOTS)
    listener.shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and getattr(conn, "is_in_memory_db", lambda: False)()
    }
    for conn in listener.shared.values():
        conn.inc_thread_sharing()
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    port = int(listener.server_address[1])
    _SERVERS[port] = listener
    try:
        yield port
    finally:
        _SERVERS.pop(port, None)
        listener.shutdown()
        listener.server_close()
        thread.join(timeout=10)
        for conn in listener.shared.values():
            conn.dec_thread_sharing()


_SLOTS = 8
# The gateways the tests started, by port: settle() waits on their connection slots.
_SERVERS: dict[int, TerminalServer] = {}


class SettledTerminal(client.Terminal):
    """The simulator's terminal, waiting after each exchange until the gateway has closed the
    session (its thread writes the reply's rows after sending it; SQLite's in-memory test
    database refuses a second writer rather than waiting)."""

    def send(self, framed: bytes, *, key: bytes) -> dict[str, Any]:
        try:
            return super().send(framed, key=key)
        finally:
            settle(self.port)


def _idle(listener: TerminalServer) -> bool:
    """Every connection slot free: no handler thread is running, so all it wrote is committed
    (asked without touching the database: on SQLite's shared in-memory test database a read
    while the handler writes makes the handler's write fail, "database table is locked")."""
    taken = 0
    try:
        while taken < _SLOTS and listener.slots.acquire(blocking=False):
            taken += 1
        return taken == _SLOTS
    finally:
        for _ in range(taken):
            listener.slots.release()


def settle(port: int | None = None) -> None:
    """Wait until the gateway on ``port`` has finished every connection (without a port: until
    no gateway session is open)."""
    listener = _SERVERS.get(port) if port is not None else None
    if listener is not None:
        wait_for(lambda: _idle(listener))
        return

    def no_open_session() -> bool:
        try:
            return not TerminalSession.objects.filter(outcome=SessionOutcome.OPEN).exists()
        except OperationalError:
            return False

    wait_for(no_open_session)


def handheld(port: int, terminal_id: str = "HH0001", cipher: str = "aes256gcm") -> client.Terminal:
    return SettledTerminal(
        "127.0.0.1", port, client.TerminalState(terminal_id=terminal_id, cipher=cipher)
    )


def enrolled(field: Field, port: int, cipher: str = "aes256gcm") -> client.Terminal:
    device = handheld(port, cipher=cipher)
    device.enrol(field.code, serial_number=SERIAL, imsi=IMSI, imei=IMEI, app_version="1.4.2")
    return device


def wait_for(check: Any, seconds: float = 20) -> Any:
    """Poll ``check`` until it is true (the server thread writes its rows after replying)."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the server never got there")
