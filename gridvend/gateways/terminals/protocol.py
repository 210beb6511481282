"""The terminal protocol's envelope and its cryptography, in plain Python (no Django): the
gateway, the `gridvend terminal` simulator and the tests share it. docs/terminals.md is the
byte-level description for device makers.

A frame is a 2-byte big-endian length and a body of at most the gateway's limit. The body is a
39-byte clear header, the nonce (or IV), the ciphertext and the tag (or MAC):

    0  2  magic "GT"
    2  1  protocol version, 1
    3  1  cipher: 1 AES-256-GCM, 2 3DES-CBC + CMAC (legacy), 0 none (an unauthenticated
          error frame of the gateway, for a message it could not open)
    4  1  direction: 0 terminal to gateway, 1 gateway to terminal
    5 16  terminal id, ASCII, padded with spaces on the right
   21  2  key version (0: the message is under the one-time enrolment code's key)
   23  8  sequence number, unsigned, strictly increasing per terminal and key
   31  8  time the message was written, Unix seconds (UTC)
   39  .. AES-GCM: 12-byte nonce, ciphertext, 16-byte tag (the header is the associated data)
          3DES: 8-byte IV, ciphertext (PKCS#7 padded), 8-byte CMAC over header, IV and
          ciphertext (encrypt-then-MAC)

The plain text is a UTF-8 JSON object. A reply echoes the request's sequence number and key
version, with direction 1: a request replayed as a reply, or a reply as a request, does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from dataclasses import dataclass
from typing import Any

from Crypto.Cipher import AES, DES3
from Crypto.Hash import CMAC
from Crypto.Random import get_random_bytes
from Crypto.Util.Padding import pad, unpad

MAGIC = b"GT"
VERSION = 1
HEADER = struct.Struct(">2sBBB16sHQQ")
HEADER_BYTES = HEADER.size  # 39

CIPHER_NONE = 0
CIPHER_AES_GCM = 1
CIPHER_DES3_CBC_MAC = 2

TO_GATEWAY = 0
TO_TERMINAL = 1

GCM_NONCE = 12
GCM_TAG = 16
DES_IV = 8
DES_MAC = 8
# The largest plain message a terminal sends or gets; the frame limit bounds it first.
MAX_PLAIN_BYTES = 60000

ENROLMENT_PURPOSE = b"gridvend terminal enrolment v1|"


class EnvelopeError(Exception):
    """A body that is not an envelope (``problem`` says why), or that does not open (``tag``)."""

    def __init__(self, problem: str, *, tag: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.tag = tag


@dataclass(frozen=True)
class Header:
    cipher: int
    direction: int
    terminal_id: str
    key_version: int
    sequence: int
    sent_at: int

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC,
            VERSION,
            self.cipher,
            self.direction,
            self.terminal_id.encode("ascii").ljust(16, b" "),
            self.key_version,
            self.sequence,
            self.sent_at,
        )


def parse_header(body: bytes) -> Header:
    if len(body) < HEADER_BYTES:
        raise EnvelopeError("shorter than the 39-byte header")
    magic, version, cipher, direction, raw_id, key_version, sequence, sent_at = HEADER.unpack(
        body[:HEADER_BYTES]
    )
    if magic != MAGIC:
        raise EnvelopeError("the magic is not GT")
    if version != VERSION:
        raise EnvelopeError(f"protocol version {version} is not 1")
    if cipher not in (CIPHER_NONE, CIPHER_AES_GCM, CIPHER_DES3_CBC_MAC):
        raise EnvelopeError(f"cipher {cipher} is unknown")
    if direction not in (TO_GATEWAY, TO_TERMINAL):
        raise EnvelopeError(f"direction {direction} is unknown")
    try:
        terminal_id = raw_id.decode("ascii").rstrip(" ")
    except UnicodeDecodeError:
        raise EnvelopeError("the terminal id is not ASCII") from None
    # Only the gateway's error frame to a message it could not read names no terminal.
    if not terminal_id.isalnum() and not (terminal_id == "" and cipher == CIPHER_NONE):
        raise EnvelopeError("the terminal id is not letters and digits")
    if sequence == 0 or sequence >= 2**63:
        raise EnvelopeError("the sequence number is 1 to 2**63 - 1")
    return Header(cipher, direction, terminal_id, key_version, sequence, sent_at)


def _subkey(key: bytes, label: bytes, length: int) -> bytes:
    return hmac.new(key, b"gridvend terminal " + label, hashlib.sha256).digest()[:length]


def _des_keys(key: bytes) -> tuple[bytes, bytes]:
    enc = DES3.adjust_key_parity(_subkey(key, b"3des-enc", 24))
    mac = DES3.adjust_key_parity(_subkey(key, b"3des-mac", 24))
    return enc, mac


def enrolment_key(code: str, terminal_id: str) -> bytes:
    """The key of the enrolment exchange, from the one-time code (never sent)."""
    return hmac.new(
        code.encode("ascii"), ENROLMENT_PURPOSE + terminal_id.encode("ascii"), hashlib.sha256
    ).digest()


def seal(header: Header, key: bytes, plain: bytes, *, nonce: bytes | None = None) -> bytes:
    """The envelope's body: the header, and the plain text encrypted and authenticated."""
    head = header.pack()
    if header.cipher == CIPHER_AES_GCM:
        nonce = nonce or get_random_bytes(GCM_NONCE)
        cipher = AES.new(_subkey(key, b"aes-gcm", 32), AES.MODE_GCM, nonce=nonce)
        cipher.update(head)
        ciphertext, tag = cipher.encrypt_and_digest(plain)
        return head + nonce + ciphertext + tag
    if header.cipher == CIPHER_DES3_CBC_MAC:
        enc_key, mac_key = _des_keys(key)
        iv = nonce or get_random_bytes(DES_IV)
        ciphertext = DES3.new(enc_key, DES3.MODE_CBC, iv=iv).encrypt(pad(plain, 8))
        mac = CMAC.new(mac_key, head + iv + ciphertext, ciphermod=DES3).digest()[:DES_MAC]
        return head + iv + ciphertext + mac
    if header.cipher == CIPHER_NONE:
        return head + plain
    raise ValueError(header.cipher)


def open_body(body: bytes, key: bytes) -> tuple[Header, bytes]:
    """The header and the plain text; EnvelopeError(tag=True) when it does not authenticate."""
    header = parse_header(body)
    rest = body[HEADER_BYTES:]
    head = body[:HEADER_BYTES]
    if header.cipher == CIPHER_AES_GCM:
        if len(rest) < GCM_NONCE + GCM_TAG:
            raise EnvelopeError("too short for a nonce and a tag")
        nonce, ciphertext, tag = rest[:GCM_NONCE], rest[GCM_NONCE:-GCM_TAG], rest[-GCM_TAG:]
        cipher = AES.new(_subkey(key, b"aes-gcm", 32), AES.MODE_GCM, nonce=nonce)
        cipher.update(head)
        try:
            return header, cipher.decrypt_and_verify(ciphertext, tag)
        except ValueError:
            raise EnvelopeError("the tag does not match", tag=True) from None
    if header.cipher == CIPHER_DES3_CBC_MAC:
        if len(rest) < DES_IV + 8 + DES_MAC or (len(rest) - DES_IV - DES_MAC) % 8:
            raise EnvelopeError("not an IV, whole blocks and a MAC")
        iv, ciphertext, mac = rest[:DES_IV], rest[DES_IV:-DES_MAC], rest[-DES_MAC:]
        enc_key, mac_key = _des_keys(key)
        expected = CMAC.new(mac_key, head + iv + ciphertext, ciphermod=DES3).digest()[:DES_MAC]
        if not hmac.compare_digest(expected, mac):
            raise EnvelopeError("the MAC does not match", tag=True)
        try:
            return header, unpad(DES3.new(enc_key, DES3.MODE_CBC, iv=iv).decrypt(ciphertext), 8)
        except ValueError:
            raise EnvelopeError("the padding is not PKCS#7", tag=True) from None
    raise EnvelopeError("a terminal's message is never unencrypted")


def encode_message(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _no_constants(value: str) -> Any:
    raise ValueError(f"{value} is not JSON")


def decode_message(plain: bytes) -> dict[str, Any]:
    """A plain message: a JSON object of at most MAX_PLAIN_BYTES (checked before parsing)."""
    if len(plain) > MAX_PLAIN_BYTES:
        raise EnvelopeError("the message is too long")
    try:
        value = json.loads(plain.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise EnvelopeError("the message is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise EnvelopeError("the message is not a JSON object")
    return value


def cipher_number(name: str) -> int:
    return {"aes256gcm": CIPHER_AES_GCM, "des3cbcmac": CIPHER_DES3_CBC_MAC}[name]
