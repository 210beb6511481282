"""Encryption of vending keys at rest with the master key (AES-256-GCM, key reference as AAD)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from Crypto.Cipher import AES
from django.conf import settings


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes
    tag: bytes

    def __repr__(self) -> str:
        return "Sealed(<encrypted>)"


class KeyDecryptionFailed(Exception):
    """The stored key does not open with this master key (wrong key, or tampered row)."""


def _master() -> bytes:
    key: bytes = settings.MASTER_KEY
    return key


def seal(secret: bytes, *, key_ref: str) -> Sealed:
    # Binding the key reference as associated data stops a row's ciphertext being moved to
    # another reference unnoticed.
    cipher = AES.new(_master(), AES.MODE_GCM)
    cipher.update(key_ref.encode("utf-8"))
    ciphertext, tag = cipher.encrypt_and_digest(secret)
    return Sealed(bytes(cipher.nonce), ciphertext, tag)


def unseal(sealed: Sealed, *, key_ref: str) -> bytes:
    cipher = AES.new(_master(), AES.MODE_GCM, nonce=sealed.nonce)
    cipher.update(key_ref.encode("utf-8"))
    try:
        return bytes(cipher.decrypt_and_verify(sealed.ciphertext, sealed.tag))
    except ValueError:
        raise KeyDecryptionFailed(
            f"vending key {key_ref} does not open with this master key"
        ) from None


def fingerprint(secret: bytes) -> str:
    """A short identifier for a key that reveals nothing without the master key."""
    return hmac.new(_master(), b"gridvend-vk:" + secret, hashlib.sha256).hexdigest()[:16]
