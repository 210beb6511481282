"""Storing and loading vending keys; the plaintext key lives only in memory, never in logs."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.keys.crypto import (
    KeyDecryptionFailed,
    Sealed,
    check_value,
    current_master_id,
    fingerprint,
    seal,
    unseal,
)
from gridvend.keys.errors import VendingKeyUnavailable
from gridvend.keys.events import KeyEvent
from gridvend.keys.models import VendingKeyRecord
from gridvend.sts.keys import VendingKey

KEY_LENGTHS = {"02": 8, "04": 20}
logger = logging.getLogger("gridvend.keys")


def store_vending_key(
    *,
    actor: User | None,
    key_ref: str,
    key_hex: str,
    dkga: str,
    sta_tables: str = "real",
    description: str = "",
) -> VendingKeyRecord:
    """Encrypt and store a vending key. Only Administrators (or the installer, with no actor)."""
    if actor is not None and not actor.is_administrator:
        raise AccessDenied()
    if dkga not in KEY_LENGTHS:
        raise ValidationFailed(_("DKGA must be 02 or 04."), field="dkga")
    if sta_tables not in ("real", "sample"):
        raise ValidationFailed(_("Tables must be real or sample."), field="sta_tables")
    cleaned = key_hex.strip().replace(" ", "")
    try:
        secret = bytes.fromhex(cleaned)
    except ValueError:
        raise ValidationFailed(_("The key must be hexadecimal."), field="key_hex") from None
    if len(secret) != KEY_LENGTHS[dkga]:
        raise ValidationFailed(
            _("A DKGA%(dkga)s vending key has %(n)s bytes.")
            % {"dkga": dkga, "n": KEY_LENGTHS[dkga]},
            field="key_hex",
        )
    return store_key_secret(
        actor=actor,
        key_ref=key_ref,
        secret=secret,
        dkga=dkga,
        sta_tables=sta_tables,
        description=description,
    )


def store_key_secret(
    *,
    actor: User | None,
    key_ref: str,
    secret: bytes,
    dkga: str,
    sta_tables: str,
    description: str,
    event: str = KeyEvent.STORED,
    details: dict[str, object] | None = None,
) -> VendingKeyRecord:
    """Seal and store a key whose actor and length for its DKGA the caller has checked (a key
    typed whole, or the XOR of a ceremony's components)."""
    key_ref = key_ref.strip()
    if not key_ref:
        raise ValidationFailed(_("A key reference is required."), field="key_ref")
    with transaction.atomic(durable=True):
        if VendingKeyRecord.objects.filter(key_ref=key_ref).exists():
            raise ValidationFailed(_("That key reference is already used."), field="key_ref")
        sealed = seal(secret, key_ref=key_ref)
        try:
            # Two ceremonies finishing at once both pass the exists() read: the unique index
            # decides, and the one that loses is told as the read would have told it.
            with transaction.atomic():
                record_ = VendingKeyRecord.objects.create(
                    key_ref=key_ref,
                    description=description,
                    dkga=dkga,
                    sta_tables=sta_tables,
                    nonce=sealed.nonce,
                    ciphertext=sealed.ciphertext,
                    tag=sealed.tag,
                    master_key_id=sealed.master_id,
                    fingerprint=fingerprint(secret),
                    check_value=check_value(secret),
                )
        except IntegrityError:
            raise ValidationFailed(
                _("That key reference is already used."), field="key_ref"
            ) from None
        record(
            actor=actor,
            event_type=event,
            target=record_,
            after={
                "key_ref": key_ref,
                "dkga": dkga,
                "fingerprint": record_.fingerprint,
                "check_value": record_.check_value,
                **(details or {}),
            },
        )
    return record_


def set_vending_key_active(*, actor: User, key_ref: str, is_active: bool) -> None:
    if not actor.is_administrator:
        raise AccessDenied()
    with transaction.atomic(durable=True):
        updated = VendingKeyRecord.objects.filter(key_ref=key_ref).update(is_active=is_active)
        if not updated:
            raise VendingKeyUnavailable(key_ref)
        record(
            actor=actor,
            event_type=KeyEvent.ACTIVATED if is_active else KeyEvent.DEACTIVATED,
            target_type="keys.vendingkeyrecord",
            target_id=key_ref,
            target_label=key_ref,
        )
    _cache.clear()


class _KeyCache:
    """Decrypted keys per process for a short while; after that the row is read again, so a key
    deactivated by any server stops being used everywhere within the cache lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, str, VendingKey]] = {}

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()

    def get(self, key_ref: str) -> tuple[VendingKey, str]:
        now = time.monotonic()
        with self._lock:
            hit = self._keys.get(key_ref)
        if hit is not None and now - hit[0] < settings.VENDING_KEY_CACHE_SECONDS:
            return hit[2], hit[1]
        row = VendingKeyRecord.objects.filter(key_ref=key_ref, is_active=True).first()
        if row is None:
            with self._lock:
                self._keys.pop(key_ref, None)
            raise VendingKeyUnavailable(key_ref)
        try:
            secret = unseal(sealed_of(row), key_ref=key_ref)
        except KeyDecryptionFailed:
            # A master key that cannot open the row (GRIDVEND_MASTER_KEY_PREVIOUS missing after
            # a rotation, the wrong key on one server): a coded refusal before anything is
            # written, and an operator's log line saying which key reference and why.
            logger.error(
                "vending key %s does not open with this server's master key %s "
                "(sealed under %s): check GRIDVEND_MASTER_KEY and GRIDVEND_MASTER_KEY_PREVIOUS",
                key_ref,
                current_master_id(),
                row.master_key_id or "an unnamed key",
            )
            raise VendingKeyUnavailable(key_ref) from None
        key = VendingKey(secret)
        with self._lock:
            self._keys[key_ref] = (now, row.sta_tables, key)
        return key, row.sta_tables


_cache = _KeyCache()


def sealed_of(row: VendingKeyRecord) -> Sealed:
    return Sealed(bytes(row.nonce), bytes(row.ciphertext), bytes(row.tag), row.master_key_id)


def load_vending_key(key_ref: str) -> tuple[VendingKey, str]:
    """The vending key and its table set ("real"/"sample") for a key reference."""
    return _cache.get(key_ref)


def forget_cached_keys() -> None:
    _cache.clear()


def keys_that_do_not_open() -> tuple[int, list[str]]:
    """Open every active vending key with this process's master key(s) and compare it with the
    check value recorded when it was stored: what a restored database needs to sell. Returns the
    keys checked and one line per key that fails; the keys themselves are dropped at once."""
    problems: list[str] = []
    rows = VendingKeyRecord.objects.filter(is_active=True).order_by("key_ref")
    checked = 0
    for row in rows:
        checked += 1
        try:
            secret = unseal(sealed_of(row), key_ref=row.key_ref)
        except KeyDecryptionFailed:
            problems.append(
                f"vending key {row.key_ref} does not open with master key "
                f"{current_master_id()} (sealed under {row.master_key_id or 'an unnamed key'})"
            )
            continue
        if row.check_value and check_value(secret) != row.check_value:
            problems.append(
                f"vending key {row.key_ref} opens, but not to the key of check value "
                f"{row.check_value} recorded when it was stored"
            )
        del secret
    return checked, problems
