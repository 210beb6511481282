"""The terminal gateway over a real socket: enrolment, a ping under the terminal's key, and every
frame it must refuse (a changed byte, a replay, an old time, a revoked or suspended terminal, the
wrong key, a truncated or oversize frame, a connection that sends nothing). Each refusal is
answered or closed, recorded with its raw bytes, and changes nothing else."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.gateways.terminals import client, protocol
from gridvend.gateways.terminals.server import frame_spec
from gridvend.identity.errors import AccessDenied
from gridvend.identity.roles import Capability, Role
from gridvend.terminals import selectors
from gridvend.terminals.models import (
    Direction,
    SessionOutcome,
    Stage,
    Terminal,
    TerminalMessage,
    TerminalSession,
    TerminalStatus,
)
from gridvend.terminals.services import setup
from tests import factories
from tests.terminals.conftest import IMEI, IMSI, SERIAL, Field, enrolled, handheld, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def closed_sessions(count: int) -> list[TerminalSession]:
    def done() -> list[TerminalSession] | None:
        if TerminalSession.objects.filter(outcome=SessionOutcome.OPEN).exists():
            return None
        found = list(TerminalSession.objects.exclude(outcome=SessionOutcome.OPEN).order_by("pk"))
        return found if len(found) >= count else None

    return wait_for(done)


def state(terminal: Terminal) -> dict[str, Any]:
    """What a refused frame must not change: the terminal row, and the audit trail."""
    row = Terminal.objects.filter(pk=terminal.pk).values().get()
    return {**row, "audit_events": AuditEvent.objects.count()}


def refused(device: client.Terminal, framed: bytes) -> client.GatewayRefused:
    with pytest.raises(client.GatewayRefused) as caught:
        device.send(framed, key=device.key if device.state.key_hex else b"")
    return caught.value


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data.extend(chunk)
    return bytes(data)


def test_a_terminal_enrols_with_its_code_and_then_pings_under_its_own_key(
    field: Field, gateway: int
) -> None:
    device = enrolled(field, gateway)
    assert device.state.key_version == 1 and len(device.key) == 32
    terminal = field.fresh()
    assert terminal.status == TerminalStatus.ACTIVE
    assert (terminal.serial_number, terminal.imsi, terminal.imei) == (SERIAL, IMSI, IMEI)
    assert terminal.app_version == "1.4.2" and terminal.enrolment_ciphertext is None
    reply = device.request("ping", app_version="1.4.3")
    assert reply["ok"] is True and reply["terminal_id"] == "HH0001"
    assert reply["agent"] == field.agent.full_name
    terminal = field.fresh()
    assert terminal.last_sequence == device.state.sequence
    assert terminal.app_version == "1.4.3" and terminal.last_contact_at is not None
    _, ping = closed_sessions(2)
    assert ping.outcome == SessionOutcome.ANSWERED and ping.operation == "ping"
    stored = list(TerminalMessage.objects.filter(session=ping).order_by("pk"))
    assert [(m.direction, m.stage) for m in stored] == [
        (Direction.IN, Stage.WIRE),
        (Direction.IN, Stage.PLAIN),
        (Direction.OUT, Stage.PLAIN),
        (Direction.OUT, Stage.WIRE),
    ]
    assert bytes(stored[0].content) == device.last_request
    assert b'"op":"ping"' in bytes(stored[1].content)
    assert b'"op":"ping"' not in bytes(stored[0].content)  # encrypted on the wire
    assert all(m.terminal_id == terminal.pk for m in stored)


def test_the_enrolment_key_never_leaves_in_the_clear_and_the_code_works_once(
    field: Field, gateway: int
) -> None:
    device = enrolled(field, gateway)
    [session] = closed_sessions(1)
    wire_out = TerminalMessage.objects.get(
        session=session, direction=Direction.OUT, stage=Stage.WIRE
    )
    assert device.state.key_hex.encode() not in bytes(wire_out.content)
    before = state(field.terminal)
    again = handheld(gateway)
    with pytest.raises(client.GatewayRefused) as caught:
        again.enrol(field.code, serial_number=SERIAL, imsi=IMSI, imei=IMEI, app_version="1")
    assert caught.value.code == "TERMINAL_AUTH_FAILED" and not caught.value.encrypted
    assert state(field.terminal) == before


def test_a_changed_byte_is_refused_recorded_and_changes_nothing(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    before = state(field.terminal)
    framed = bytearray(device.build({"op": "ping"}, key=device.key, key_version=1))
    framed[60] ^= 0x01  # a byte of the ciphertext
    error = refused(device, bytes(framed))
    assert error.code == "TERMINAL_AUTH_FAILED" and not error.encrypted
    assert state(field.terminal) == before
    session = closed_sessions(2)[-1]
    assert session.outcome == SessionOutcome.REFUSED
    assert session.error_code == "TERMINAL_AUTH_FAILED" and session.terminal_id == before["id"]
    stored = TerminalMessage.objects.filter(session=session)
    assert bytes(stored.get(direction=Direction.IN, stage=Stage.WIRE).content) == bytes(framed)
    assert not stored.filter(direction=Direction.IN, stage=Stage.PLAIN).exists()


def test_a_changed_header_byte_is_refused_too(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    before = state(field.terminal)
    framed = bytearray(device.build({"op": "ping"}, key=device.key, key_version=1))
    framed[2 + 30] ^= 0x01  # the sequence number's last byte: authenticated as associated data
    assert refused(device, bytes(framed)).code == "TERMINAL_AUTH_FAILED"
    assert state(field.terminal) == before


def test_a_replayed_frame_is_refused_and_changes_nothing(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    framed = device.build({"op": "ping"}, key=device.key, key_version=1)
    device.send(framed, key=device.key)
    before = state(field.terminal)
    error = refused(device, framed)
    assert error.code == "TERMINAL_REPLAY" and error.encrypted
    assert state(field.terminal) == before
    assert closed_sessions(3)[-1].error_code == "TERMINAL_REPLAY"


def test_an_older_sequence_number_is_a_replay(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    older = device.build({"op": "ping"}, key=device.key, key_version=1)
    newer = device.build({"op": "ping"}, key=device.key, key_version=1)
    device.send(newer, key=device.key)
    assert refused(device, older).code == "TERMINAL_REPLAY"


def test_a_message_written_too_long_ago_is_refused(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    before = state(field.terminal)
    header = protocol.Header(
        cipher=protocol.CIPHER_AES_GCM,
        direction=protocol.TO_GATEWAY,
        terminal_id="HH0001",
        key_version=1,
        sequence=10**15,
        sent_at=int(time.time()) - 3600,
    )
    framed = frame_spec().frame(protocol.seal(header, device.key, b'{"op":"ping"}'))
    error = refused(device, framed)
    assert error.code == "TERMINAL_CLOCK_SKEW" and error.encrypted
    assert state(field.terminal) == before


def test_a_revoked_terminal_is_refused_at_its_next_connection(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    device.request("ping")
    setup.revoke_terminal(actor=field.manager, terminal=field.terminal, reason="stolen")
    before = state(field.terminal)
    framed = device.build({"op": "ping"}, key=device.key, key_version=1)
    error = refused(device, framed)
    assert error.code == "TERMINAL_NOT_ACTIVE" and not error.encrypted
    assert state(field.terminal) == before
    assert field.fresh().key_ciphertext is None  # its key is gone for good


def test_a_suspended_terminal_is_refused_until_reinstated(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    setup.suspend_terminal(actor=field.manager, terminal=field.terminal, reason="audit")
    with pytest.raises(client.GatewayRefused) as caught:
        device.request("ping")
    assert caught.value.code == "TERMINAL_NOT_ACTIVE"
    setup.reinstate_terminal(actor=field.manager, terminal=field.terminal, reason="cleared")
    assert device.request("ping")["ok"] is True


def test_the_wrong_key_is_refused(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    before = state(field.terminal)
    framed = device.build({"op": "ping"}, key=bytes(32), key_version=1)
    assert refused(device, framed).code == "TERMINAL_AUTH_FAILED"
    stale = device.build({"op": "ping"}, key=device.key, key_version=2)
    assert refused(device, stale).code == "TERMINAL_AUTH_FAILED"
    assert state(field.terminal) == before


def test_an_unknown_terminal_is_refused(field: Field, gateway: int) -> None:
    device = handheld(gateway, terminal_id="NOSUCH01")
    device.state.key_hex = bytes(32).hex()
    device.state.key_version = 1
    with pytest.raises(client.GatewayRefused) as caught:
        device.request("ping")
    assert caught.value.code == "TERMINAL_UNKNOWN"
    [session] = closed_sessions(1)
    assert session.terminal is None and session.outcome == SessionOutcome.REFUSED


def test_a_truncated_frame_gets_no_reply_and_is_kept(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    before = state(field.terminal)
    framed = device.build({"op": "ping"}, key=device.key, key_version=1)
    with connect(gateway) as sock:
        sock.sendall(framed[:-5])
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b""
    session = closed_sessions(2)[-1]
    assert session.outcome == SessionOutcome.REFUSED and "truncated" in session.note
    [kept] = TerminalMessage.objects.filter(session=session)
    assert bytes(kept.content) == framed[:-5] and kept.problem
    assert state(field.terminal) == before


def test_an_oversize_frame_is_answered_with_an_error_frame_unread(
    field: Field, gateway: int
) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"\xff\xff" + b"x" * 100)
        reply = read_all(sock)
    body = reply[2:]
    header = protocol.parse_header(body)
    assert header.cipher == protocol.CIPHER_NONE
    message = protocol.decode_message(body[protocol.HEADER_BYTES :])
    assert message["error"]["code"] == "TERMINAL_FRAME_INVALID"
    [session] = closed_sessions(1)
    assert session.outcome == SessionOutcome.REFUSED and "oversize" in session.note


def test_garbage_of_a_valid_length_is_answered_with_an_error_frame(
    field: Field, gateway: int
) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"\x00\x05hello")
        reply = read_all(sock)
    message = protocol.decode_message(reply[2 + protocol.HEADER_BYTES :])
    assert message["error"]["code"] == "TERMINAL_FRAME_INVALID"


def test_a_connection_that_sends_nothing_is_closed_at_the_timeout(
    field: Field, gateway: int
) -> None:
    started = time.monotonic()
    with connect(gateway) as sock:
        assert read_all(sock) == b""
    assert time.monotonic() - started < 10
    [session] = closed_sessions(1)
    assert session.outcome == SessionOutcome.TIMED_OUT
    assert not TerminalMessage.objects.filter(session=session).exists()


def test_a_legacy_terminal_speaks_3des_with_a_mac_and_a_changed_byte_is_refused(
    field: Field, gateway: int
) -> None:
    _, code = setup.register_terminal(
        actor=field.manager, terminal_id="HH0002", org_unit=field.tree.north_sc, cipher="des3cbcmac"
    )
    device = handheld(gateway, terminal_id="HH0002", cipher="des3cbcmac")
    device.enrol(code, serial_number="OLD-0002", imsi=IMSI, imei=IMEI, app_version="0.9")
    assert device.request("ping")["ok"] is True
    framed = bytearray(device.build({"op": "ping"}, key=device.key, key_version=1))
    framed[2 + 39 + 9] ^= 0x80
    assert refused(device, bytes(framed)).code == "TERMINAL_AUTH_FAILED"
    # An AES frame from the 3DES terminal is refused: its cipher is part of its set-up.
    device.state.cipher = "aes256gcm"
    with pytest.raises(client.GatewayRefused) as caught:
        device.request("ping")
    assert caught.value.code == "TERMINAL_AUTH_FAILED"


def test_a_key_rotation_gives_a_new_key_to_the_same_device_only(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    old_key = device.key
    _, code = setup.rotate_key(actor=field.manager, terminal=field.terminal)
    assert device.request("ping")["ok"] is True  # the old key works until the re-enrolment
    other = handheld(gateway)
    with pytest.raises(client.GatewayRefused) as caught:
        other.enrol(code, serial_number="STOLEN-1", imsi=IMSI, imei=IMEI, app_version="1")
    assert caught.value.code == "TERMINAL_ENROLMENT_REFUSED"
    device.enrol(code, serial_number=SERIAL, imsi=IMSI, imei=IMEI, app_version="1.5.0")
    assert device.state.key_version == 2 and device.key != old_key
    assert device.request("ping")["ok"] is True
    stale = device.build({"op": "ping"}, key=old_key, key_version=1)
    assert refused(device, stale).code == "TERMINAL_AUTH_FAILED"


def test_only_the_auditor_reads_the_raw_messages(field: Field, gateway: int) -> None:
    device = enrolled(field, gateway)
    device.request("ping")
    closed_sessions(2)
    auditor = factories.user(field.tree.north, Role.VENDING_POINT_MANAGER, (Capability.AUDITOR,))
    assert selectors.list_raw_messages(auditor, field.terminal).count() == 8
    for denied in (field.manager, field.agent):
        with pytest.raises(AccessDenied):
            selectors.list_raw_messages(denied, field.terminal)
    outside = factories.user(field.tree.south, Role.VENDING_POINT_MANAGER, (Capability.AUDITOR,))
    assert selectors.list_raw_messages(outside, field.terminal).count() == 0


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs iproute2's ss")
def test_the_gateway_listens_with_a_backlog_for_a_whole_centre_connecting_at_once(
    gateway: int,
) -> None:
    """With every slot taken, connections wait in the kernel's accept queue: at 64 (before),
    200 terminals connecting at once overflowed it and were reset unseen by the gateway. The
    Send-Q that `ss` shows for a listening socket is its backlog (capped by somaxconn)."""
    listed = subprocess.run(
        ["ss", "-ltnH", f"sport = :{gateway}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert listed[0] == "LISTEN"
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert int(listed[2]) == min(1024, somaxconn) > 64
