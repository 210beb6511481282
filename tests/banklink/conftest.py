"""The bank-link tests' scene: the billing scene (two postpaid accounts of the north billed last
month) with a bank partner whose fixed-format link is configured, and a TCP server of that link
on an ephemeral port in a thread, answered by the real handlers against real billing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from gridvend.banklink.models import BankLink
from gridvend.banklink.services import links
from gridvend.gateways.banklink import layout
from gridvend.gateways.banklink.framing import FrameReader
from gridvend.gateways.banklink.server import LinkServer, frame_spec
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.ledger.services import today
from gridvend.partners.models import Partner
from tests import factories
from tests.billing.conftest import Scene, scene  # noqa: F401 (the fixture, shared)
from tests.partners.support import make_partner

AGENCY = "ICBC0101"


@dataclass
class Bank:
    scene: Scene
    partner: Partner
    link: BankLink
    finance: User  # at the root, where the bank partner is

    @property
    def account(self) -> str:
        return self.scene.customer(self.scene.a).account_number

    def reconfigure(self, **values: Any) -> BankLink:
        current = links.LinkSettings(
            **{name: getattr(self.link, name) for name in links.LinkSettings.__dataclass_fields__}
        )
        self.link = links.configure_link(
            actor=self.scene.world.admin, partner=self.partner, values=replace(current, **values)
        )
        return self.link


@pytest.fixture
def bank(scene: Scene) -> Bank:  # noqa: F811 (the shared fixture is its argument)
    partner = make_partner(scene.world, code="icbc", float_major="0")
    link = links.configure_link(
        actor=scene.world.admin,
        partner=partner,
        values=links.LinkSettings(agency_id=AGENCY, charset="gbk", read_timeout_seconds=2),
    )
    scene.billed()
    finance = factories.user(
        scene.world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,)
    )
    return Bank(scene, partner, link, finance)


@pytest.fixture
def server(bank: Bank) -> Iterator[int]:
    """The link's server on an ephemeral port; its port."""
    listener = LinkServer(bank.link, ("127.0.0.1", 0))
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(listener.server_address[1])
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join(timeout=10)


def request(bank: Bank, kind: int, **values: Any) -> bytes:
    """A request body as the bank writes it, in the link's charset."""
    fields: dict[str, str | int] = {
        "message_type": kind,
        "agency_id": AGENCY,
        "trans_date": "20261201",
        "trans_time": "093015",
        "bank_serial": "S0001",
        "outlet": "网点0001",
        "teller": "T07",
        "account_number": bank.account,
        "bill_month": "",
        "bank_date": today().strftime("%Y%m%d"),
        "amount": 0,
        "original_serial": "",
    }
    fields.update(values)
    return layout.encode_request(fields, bank.link.charset)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server writes until it closes the connection."""
    data = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data.extend(chunk)


def exchange(bank: Bank, port: int, body: bytes) -> bytes:
    """One short connection: the framed body sent, the reply's body read."""
    spec = frame_spec(bank.link)
    with connect(port) as sock:
        sock.sendall(spec.frame(body))
        reply = read_all(sock)
    reader = FrameReader(spec, _feed(reply))
    found = reader.read()
    assert found is not None, reply
    return found


def _feed(data: bytes):
    queue = [data]

    def recv(_: int) -> bytes:
        return queue.pop(0) if queue else b""

    return recv


def reply_fields(bank: Bank, body: bytes) -> dict[str, str]:
    """The reply's head, field by field, in the link's charset."""
    found: dict[str, str] = {}
    at = 0
    for name, width in layout.REPLY_HEAD:
        found[name] = body[at : at + width].decode(bank.link.charset).strip()
        at += width
    return found


def wait_for(check: Any, seconds: float = 20) -> Any:
    """Poll ``check`` until it is true (the server thread writes its rows after replying)."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the server never got there")
