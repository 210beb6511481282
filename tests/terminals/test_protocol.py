"""The protocol's envelope without a gateway: the test vectors of docs/terminals.md, and the
envelope's refusals of a changed byte, a reply taken for a request and a cut body."""

from __future__ import annotations

import socket

import pytest

from gridvend.gateways.terminals import client, protocol

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
ENROL_BODY = (
    "47540101004848303030312020202020202020202000000000019ad9c2978000000000692d81b00001020304"
    "05060708090a0b5cfbaf4f99367eb3975785d57a9766c260d86e018f289bbb47ec85b6b5e2d39de889aa8f3d"
    "810ee8da589f0511c87e7fdc91b0de78e76d5082f3137b9009ee9f88c28d9bcc8b4c620c391b74f92cecb450"
    "da40540e584b5b8dcd188bb6da4e6a85e42b18b3b95ab560f23c3ad484babadd46843842beff6b3a715da305"
    "ec3c63c3fcbf318145"
)
PING_BODY = (
    "47540101004848303030312020202020202020202000010000019ad9c2978100000000692d81b50000000000"
    "00000000000000e185f18d20f40f2615314dfd0cac3cbfb43ddf491af0fb20d68ffb0274"
)
DES_PING_BODY = (
    "4754010200484830303032202020202020202020200001000000000000000700000000692d81b50000000000"
    "000000fefd87f26d5ac2e5800d800b2f8b2cb545a424323ce67fb9"
)


def test_the_documented_enrolment_vector_opens_with_the_code_s_key() -> None:
    key = protocol.enrolment_key("ABCDEFGHIJKLMNOPQRST", "HH0001")
    assert key.hex() == "6a989ad0e17ede9a919a6dc3eefeee2f2a07c02e46fdef16c671dc2d530e54a9"
    header, plain = protocol.open_body(bytes.fromhex(ENROL_BODY), key)
    assert header.key_version == 0 and header.sequence == 1764590000000
    assert protocol.decode_message(plain)["imei"] == "490154203237518"
    assert len(bytes.fromhex(ENROL_BODY)) == 0xB9


def test_the_documented_ping_vectors_are_what_seal_writes() -> None:
    aes = protocol.Header(1, 0, "HH0001", 1, 1764590000001, 1764590005)
    assert protocol.seal(aes, KEY, b'{"op":"ping"}', nonce=bytes(12)).hex() == PING_BODY
    des = protocol.Header(2, 0, "HH0002", 1, 7, 1764590005)
    assert protocol.seal(des, KEY, b'{"op":"ping"}', nonce=bytes(8)).hex() == DES_PING_BODY
    assert protocol.open_body(bytes.fromhex(DES_PING_BODY), KEY)[1] == b'{"op":"ping"}'


@pytest.mark.parametrize("body", [PING_BODY, DES_PING_BODY])
def test_every_changed_byte_fails_to_open(body: str) -> None:
    sealed = bytes.fromhex(body)
    for at in range(len(sealed)):
        changed = bytearray(sealed)
        changed[at] ^= 0x04
        with pytest.raises(protocol.EnvelopeError):
            protocol.open_body(bytes(changed), KEY)


def test_a_reply_does_not_open_as_a_request_and_a_cut_body_is_refused() -> None:
    reply = protocol.seal(protocol.Header(1, 1, "HH0001", 1, 5, 0), KEY, b"{}")
    as_request = bytearray(reply)
    as_request[4] = protocol.TO_GATEWAY
    with pytest.raises(protocol.EnvelopeError) as caught:
        protocol.open_body(bytes(as_request), KEY)
    assert caught.value.tag
    for length in (0, 10, protocol.HEADER_BYTES, protocol.HEADER_BYTES + 20):
        with pytest.raises(protocol.EnvelopeError):
            protocol.open_body(bytes.fromhex(PING_BODY)[:length], KEY)


def test_a_plain_message_is_a_bounded_json_object() -> None:
    assert protocol.decode_message(b'{"op":"ping"}') == {"op": "ping"}
    for bad in (b"[1]", b"NaN", b"\xff", b'{"a":' * 100000, b" " * 70000):
        with pytest.raises(protocol.EnvelopeError):
            protocol.decode_message(bad)


def test_a_gateway_that_never_answers_is_no_reply_for_the_terminal() -> None:
    """A reply that does not come within the client's timeout is NoReply (the request may have
    been done: the terminal sends its order again), never a framing error of its own."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        with pytest.raises(client.NoReply, match="timeout"):
            client.exchange_bytes("127.0.0.1", port, b"\x00\x01x", timeout=0.3)
