"""A TokenEngine over a PKCS#11 hardware security module: the vending key lives in the HSM as a
sensitive, non-extractable secret key object and each meter's decoder key is derived there.

What standard PKCS#11 can do decides the split (docs/key-management.md, "Hardware security
modules"):

* DKGA04 is HMAC-SHA-256 under the vending key: one C_Sign (CKM_SHA256_HMAC) inside the HSM. Its
  output, cut to 8 or 16 bytes, is the meter's decoder key, and HMAC does not give the vending
  key back from it. The key object holds the 20-byte vending key followed by 12 zero bytes:
  HMAC pads a short key with zeros to the hash's block size (RFC 2104), so it is the same HMAC,
  and SoftHSM2 and some HSMs refuse HMAC-SHA-256 keys shorter than 32 bytes.
* The token block encryption (STA, MISTY1) is no PKCS#11 mechanism, so it runs in this process
  with the one meter's decoder key, which is never stored or logged and opens only that meter.
* DKGA02 cannot be done this way: its decoder key is DES(VK, D) XOR D XOR VK, so whoever sees
  the DES output and the decoder key has the vending key, and standard PKCS#11 has no mechanism
  that XORs a key into a derived key inside the token. DKGA02 keys are refused here
  (HSM_KEY_UNSUPPORTED) and stay with the software engine, or need a vendor's STS firmware.

Configuration (settings): GRIDVEND_TOKEN_ENGINE=pkcs11, GRIDVEND_HSM_PKCS11_MODULE (the vendor's
PKCS#11 library), GRIDVEND_HSM_TOKEN_LABEL, and the user PIN in the environment variable named
by GRIDVEND_HSM_PIN_ENV (GRIDVEND_HSM_PIN by default).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import pkcs11
from django.conf import settings
from django.db import transaction
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import PKCS11Error

from gridvend.audit.services import record
from gridvend.kernel.tokens import MeterKeyRef
from gridvend.keys.crypto import check_value
from gridvend.keys.engine import SoftwareStsEngine, meter_params
from gridvend.keys.errors import (
    HsmKeyMismatch,
    HsmKeyUnsupported,
    HsmUnavailable,
    VendingKeyUnavailable,
)
from gridvend.keys.events import KeyEvent
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import load_vending_key
from gridvend.sts.engine import RndSource
from gridvend.sts.keys import DecoderKey, dkga04_data
from gridvend.sts.tables import TableSet

logger = logging.getLogger("gridvend.keys")

# RFC 2104 pads a key shorter than the block size with zeros; 32 bytes is the shortest HMAC-SHA-256
# key SoftHSM2 (and NIST SP 800-107's advice) accepts.
_HMAC_KEY_BYTES = 32


# What the check MACs: 64 bytes, a length no DKGA04 derivation block has, so a check value is
# never a piece of a decoder key.
_CHECK_BLOCK = b"gridvend HSM object check v1".ljust(64, b"\x00")


def hmac_key_value(vending_key: bytes) -> bytes:
    """The value the HSM object holds for a DKGA04 vending key: the same HMAC-SHA-256 key."""
    return vending_key + bytes(max(0, _HMAC_KEY_BYTES - len(vending_key)))


def hsm_check_value(vending_key: bytes) -> str:
    """The check of an HSM object holding ``vending_key``: the first 3 bytes (6 hex digits) of
    HMAC-SHA-256 of a fixed block. The HSM computes it with one C_Sign, on any PKCS#11 module
    (CKA_CHECK_VALUE is v3.0 only), and it proves the object signs as the stored key does; 3
    bytes of a MAC over a block no meter's derivation uses reveal nothing of the key."""
    mac = hmac.new(hmac_key_value(vending_key), _CHECK_BLOCK, hashlib.sha256).digest()
    return mac[:3].hex().upper()


@dataclass(frozen=True)
class _Row:
    pk: int
    dkga: str
    sta_tables: str
    hsm_check_value: str


class HsmTokenEngine(SoftwareStsEngine):
    """Tokens made with decoder keys derived in a PKCS#11 token (see the module docstring)."""

    def __init__(
        self,
        *,
        module: str,
        token_label: str,
        pin_env: str,
        rnd_source: RndSource | None = None,
    ) -> None:
        super().__init__(rnd_source=rnd_source)
        self._module = module
        self._token_label = token_label
        self._pin_env = pin_env
        # A PKCS#11 session is used by one thread at a time.
        self._lock = threading.Lock()
        self._session: Any = None
        # Counts the sessions opened: an object handle names an object only within one session,
        # and a new session (after the HSM restarted, say) may find another object.
        self._opened = 0
        self._records: dict[str, tuple[float, _Row]] = {}
        # (key reference, row id, expected check, session, object handle) of each HSM object
        # this process has checked: an object deleted and re-created under the same label has
        # another handle, so it is checked again before it makes a token.
        self._verified: set[tuple[str, int, str, int, int]] = set()

    def __repr__(self) -> str:
        return f"HsmTokenEngine(token={self._token_label!r})"

    @classmethod
    def from_settings(cls) -> HsmTokenEngine:
        return cls(
            module=settings.HSM_PKCS11_MODULE,
            token_label=settings.HSM_TOKEN_LABEL,
            pin_env=settings.HSM_PIN_ENV,
        )

    # --- the session ------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._session is None:
            pin = os.environ.get(self._pin_env, "")
            if not (self._module and self._token_label and pin):
                raise HsmUnavailable(self._token_label or "-")
            try:
                token = pkcs11.lib(self._module).get_token(token_label=self._token_label)
                self._session = token.open(user_pin=pin, rw=True)
            except (PKCS11Error, RuntimeError, OSError):
                raise HsmUnavailable(self._token_label) from None
            self._opened += 1
        return self._session

    def close(self) -> None:
        with self._lock:
            self._drop_session()

    def _drop_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            # Closing a dead session can fail too; it is dropped either way.
            with contextlib.suppress(PKCS11Error):
                session.close()

    def _key_object(self, key_ref: str) -> Any:
        """The object labelled ``key_ref`` (called holding the session lock). A failing lookup
        drops the session (a restarted HSM or a dropped connection leaves it dead: the next
        call opens a new one) and refuses HSM_UNAVAILABLE, never an uncaught error."""
        session = self._open()
        try:
            return session.get_key(
                object_class=ObjectClass.SECRET_KEY,
                key_type=KeyType.GENERIC_SECRET,
                label=key_ref,
            )
        except pkcs11.NoSuchKey:
            raise VendingKeyUnavailable(key_ref) from None
        except pkcs11.MultipleObjectsReturned:
            # Two loads at once from two servers, or another installation's: which one is the
            # stored key is not for this process to guess.
            logger.error(
                "HSM token %s: more than one object is labelled %s; refusing to make tokens "
                "until the key custodian removes all but the stored key's",
                self._token_label,
                key_ref,
            )
            raise HsmKeyMismatch(key_ref, reason="several") from None
        except PKCS11Error as exc:
            logger.warning(
                "HSM token %s: finding the object %s failed (%s); the session is dropped",
                self._token_label,
                key_ref,
                type(exc).__name__,
            )
            self._drop_session()
            raise HsmUnavailable(self._token_label) from None

    # --- decoder keys -----------------------------------------------------------------------

    def _record(self, key_ref: str) -> _Row:
        """The key's row (DKGA, table set, the HSM check stored at load), re-read as often as
        the software engine re-reads keys (so a deactivated or replaced key stops here too)."""
        now = time.monotonic()
        hit = self._records.get(key_ref)
        if hit is not None and now - hit[0] < settings.VENDING_KEY_CACHE_SECONDS:
            return hit[1]
        row = (
            VendingKeyRecord.objects.filter(key_ref=key_ref, is_active=True)
            .values_list("pk", "dkga", "sta_tables", "hsm_check_value")
            .first()
        )
        if row is None:
            self._records.pop(key_ref, None)
            raise VendingKeyUnavailable(key_ref)
        found = _Row(pk=row[0], dkga=row[1], sta_tables=row[2], hsm_check_value=row[3])
        self._records[key_ref] = (now, found)
        return found

    def _expected_check(self, key_ref: str, row: _Row) -> str:
        """What the HSM object must answer: the check stored when it was loaded, or for a row
        loaded before checks were stored, the check of the stored key itself."""
        if row.hsm_check_value:
            return row.hsm_check_value
        secret, _tables = load_vending_key(key_ref)
        return hsm_check_value(secret.secret_bytes())

    def _verify(self, key: Any, key_ref: str, row: _Row, expected: str) -> None:
        """Before an object's first use in this process, and again when its row changes, a
        session is reopened or the label finds another object (handle): it must be the stored
        key, or no token is made (called holding the session lock)."""
        checked = (key_ref, row.pk, expected, self._opened, int(key.handle))
        if checked in self._verified:
            return
        try:
            mac = bytes(key.sign(_CHECK_BLOCK, mechanism=Mechanism.SHA256_HMAC))
        except PKCS11Error:
            self._drop_session()
            raise HsmUnavailable(self._token_label) from None
        if not hmac.compare_digest(mac[:3].hex().upper(), expected):
            logger.error(
                "HSM token %s: the object labelled %s is not the vending key stored under that "
                "reference (check %s expected); refusing to make tokens with it",
                self._token_label,
                key_ref,
                expected,
            )
            raise HsmKeyMismatch(key_ref)
        self._verified.add(checked)

    def decoder_key(self, meter: MeterKeyRef) -> tuple[DecoderKey, TableSet]:
        row = self._record(meter.key_ref)
        if row.dkga != "04" or meter.dkga != "04":
            raise HsmKeyUnsupported(meter.key_ref)
        expected = self._expected_check(meter.key_ref, row)
        params = meter_params(meter)
        data = dkga04_data(
            base_date=params.base_date,
            ea=params.ea,
            ti=params.ti,
            sgc=params.sgc,
            kt=params.kt,
            krn=params.krn,
            pan=params.pan,
        )
        with self._lock:
            # The lookup, the check and the derivation each drop a dead session and refuse
            # HSM_UNAVAILABLE (a restarted HSM or a dropped connection): the next token opens
            # a new session.
            key = self._key_object(meter.key_ref)
            self._verify(key, meter.key_ref, row, expected)
            try:
                digest = bytes(key.sign(data, mechanism=Mechanism.SHA256_HMAC))
            except PKCS11Error:
                self._drop_session()
                raise HsmUnavailable(self._token_label) from None
        return DecoderKey(digest[: params.ea.key_bytes]), TableSet(row.sta_tables)

    def check_ready(self, key_ref: str, *, timeout: float) -> None:
        """What /readyz asks under this engine: the session opens and the object labelled
        ``key_ref`` is found and answers the check stored for it, all within ``timeout``
        seconds. Raises HsmUnavailable (also when the HSM does not answer in time),
        VendingKeyUnavailable (no such row or object) or HsmKeyMismatch.

        The rows are read in the caller's thread (its database connection and time limit);
        the PKCS#11 calls, which no time limit reaches, run in a daemon thread the caller
        stops waiting for. A call that hangs keeps the session lock, so later probes time out
        on the lock rather than pile up behind it."""
        row = self._record(key_ref)
        if row.dkga != "04":
            raise HsmKeyUnsupported(key_ref)
        expected = self._expected_check(key_ref, row)
        deadline = time.monotonic() + timeout
        outcome: list[BaseException | None] = []

        def probe() -> None:
            if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                outcome.append(HsmUnavailable(self._token_label))
                return
            try:
                self._verify(self._key_object(key_ref), key_ref, row, expected)
                outcome.append(None)
            except Exception as exc:
                outcome.append(exc)
            finally:
                self._lock.release()

        worker = threading.Thread(target=probe, name="gridvend-hsm-readiness", daemon=True)
        worker.start()
        worker.join(timeout)
        if not outcome:
            logger.warning(
                "HSM token %s: no answer within %.1f s for the readiness check",
                self._token_label,
                timeout,
            )
            raise HsmUnavailable(self._token_label)
        if outcome[0] is not None:
            raise outcome[0]

    # --- loading a key ----------------------------------------------------------------------

    def load_key(self, key_ref: str) -> str:
        """Put a stored DKGA04 vending key into the HSM as a sensitive, non-extractable HMAC key
        labelled with its reference; returns the HSM's own check value of the object."""
        row = VendingKeyRecord.objects.filter(key_ref=key_ref).first()
        if row is None:
            raise VendingKeyUnavailable(key_ref)
        if row.dkga != "04":
            raise HsmKeyUnsupported(key_ref)
        secret, _tables = load_vending_key(key_ref)
        value = hmac_key_value(secret.secret_bytes())
        with self._lock:
            session = self._open()
            try:
                present = list(session.get_objects({Attribute.LABEL: key_ref}))
            except PKCS11Error:
                self._drop_session()
                raise HsmUnavailable(self._token_label) from None
            if present:
                raise HsmKeyUnsupported(key_ref, reason="already_loaded")
            # A new object under a label checked before: checked again before it is used.
            self._verified = {done for done in self._verified if done[0] != key_ref}
            try:
                key = session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                        Attribute.LABEL: key_ref,
                        Attribute.VALUE: value,
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.MODIFIABLE: False,
                        Attribute.SIGN: True,
                        Attribute.VERIFY: False,
                        Attribute.ENCRYPT: False,
                        Attribute.DECRYPT: False,
                        Attribute.WRAP: False,
                        Attribute.UNWRAP: False,
                        Attribute.DERIVE: False,
                    }
                )
            except PKCS11Error:
                raise HsmUnavailable(self._token_label) from None
            try:
                hsm_kcv = bytes(key[Attribute.CHECK_VALUE]).hex().upper()
            except PKCS11Error:
                # CKA_CHECK_VALUE is PKCS#11 v3.0; an older module has none to compare.
                hsm_kcv = ""
            expected = hsm_check_value(secret.secret_bytes())
            try:
                mac = bytes(key.sign(_CHECK_BLOCK, mechanism=Mechanism.SHA256_HMAC))
            except PKCS11Error:
                mac = b""
        if (hsm_kcv and hsm_kcv != check_value(value)) or mac[:3].hex().upper() != expected:
            key.destroy()
            raise HsmUnavailable(self._token_label)
        with transaction.atomic(durable=True):
            VendingKeyRecord.objects.filter(pk=row.pk).update(hsm_check_value=expected)
            record(
                actor=None,
                event_type=KeyEvent.LOADED_INTO_HSM,
                target=row,
                after={
                    "key_ref": key_ref,
                    "token_label": self._token_label,
                    "hsm_check_value": hsm_kcv,
                    "hsm_object_check": expected,
                },
            )
        return hsm_kcv
