"""Encryption of vending keys at rest with the master key (AES-256-GCM, key reference as AAD),
the master key's public identifier, and key check values."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from Crypto.Cipher import AES, DES
from django.conf import settings

_MASTER_ID_PURPOSE = b"gridvend master key id v1"


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes
    tag: bytes
    # Which master key sealed it (master_key_id); empty on rows sealed before rotation existed.
    master_id: str = ""

    def __repr__(self) -> str:
        return "Sealed(<encrypted>)"


class KeyDecryptionFailed(Exception):
    """The stored key does not open with this master key (wrong key, or tampered row)."""


def master_key_id(master: bytes) -> str:
    """Names a master key without revealing it: rows say which one sealed them."""
    return hmac.new(master, _MASTER_ID_PURPOSE, hashlib.sha256).hexdigest()[:16]


def current_master_id() -> str:
    return master_key_id(_master())


def previous_master_id() -> str | None:
    previous: bytes | None = settings.MASTER_KEY_PREVIOUS
    return master_key_id(previous) if previous else None


def _master() -> bytes:
    key: bytes = settings.MASTER_KEY
    return key


def _candidates(master_id: str) -> list[bytes]:
    """The master keys a row may open with: the one it names, or (unnamed rows) both."""
    keys = [_master()]
    previous: bytes | None = settings.MASTER_KEY_PREVIOUS
    if previous:
        keys.append(previous)
    if not master_id:
        return keys
    return [key for key in keys if master_key_id(key) == master_id]


def seal(secret: bytes, *, key_ref: str) -> Sealed:
    """Seal under the current master key (GRIDVEND_MASTER_KEY), never the previous one."""
    # Binding the key reference as associated data stops a row's ciphertext being moved to
    # another reference unnoticed.
    master = _master()
    cipher = AES.new(master, AES.MODE_GCM)
    cipher.update(key_ref.encode("utf-8"))
    ciphertext, tag = cipher.encrypt_and_digest(secret)
    return Sealed(bytes(cipher.nonce), ciphertext, tag, master_key_id(master))


def unseal(sealed: Sealed, *, key_ref: str, current_only: bool = False) -> bytes:
    """Open a sealed key with the master key that sealed it (current or, while a rotation runs,
    previous). ``current_only`` accepts only GRIDVEND_MASTER_KEY (the rotation's final check)."""
    candidates = [_master()] if current_only else _candidates(sealed.master_id)
    for master in candidates:
        cipher = AES.new(master, AES.MODE_GCM, nonce=sealed.nonce)
        cipher.update(key_ref.encode("utf-8"))
        try:
            return bytes(cipher.decrypt_and_verify(sealed.ciphertext, sealed.tag))
        except ValueError:
            continue
    raise KeyDecryptionFailed(f"vending key {key_ref} does not open with this master key")


def fingerprint(secret: bytes) -> str:
    """A short identifier for a key that reveals nothing without the master key."""
    return hmac.new(_master(), b"gridvend-vk:" + secret, hashlib.sha256).hexdigest()[:16]


def check_value(secret: bytes) -> str:
    """The key check value (KCV) custodians compare, 6 hex digits, as PKCS#11 v3.0 defines
    CKA_CHECK_VALUE and HSMs print it: for a DES key (DKGA02, 8 bytes) the first 3 bytes of
    DES-ECB encryption of a block of zeros (also ANSI X9.24's KCV); for a generic secret key
    (DKGA04's 20-byte HMAC key) the first 3 bytes of SHA-1 of the key. It identifies a key or
    a component without revealing it, and is the same on every installation."""
    if len(secret) == 8:
        # A check value over a fixed block; DES is what the key is used with (DKGA02).
        block = DES.new(secret, DES.MODE_ECB).encrypt(bytes(8))  # noqa: S304
        return block[:3].hex().upper()
    # SHA-1 is PKCS#11's check-value function for generic secret keys, not a signature.
    return hashlib.sha1(secret).digest()[:3].hex().upper()  # noqa: S324
