"""The key ceremony: a vending key imported as two or three components, each typed by its own
custodian (a user granted the key-custodian capability) and checked against its own check
value; the key is their XOR. The key is stored, and so put to use, only once one of its
custodians has typed the whole key's check value from the key's delivery note and it matches.

A ceremony lives in the memory of the one process that runs it (`gridvend keys ceremony`), with
the custodians taking turns at its keyboard, so no component is ever written anywhere: the
database gets only the finished key, sealed under the master key. A ceremony not finished in
time (GRIDVEND_KEY_CEREMONY_MINUTES) is abandoned and what was typed is forgotten. Every step
is in the audit trail with the custodian's name and the component's check value, never the
component.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.identity import services as identity
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.kernel.clock import Clock, SystemClock
from gridvend.keys.crypto import check_value
from gridvend.keys.errors import (
    CustodianAlreadyEntered,
    CustodianNotAuthenticated,
    CustodianNotAuthorised,
    KeyCeremonyExpired,
    KeyCheckValueMismatch,
    KeyComponentCheckFailed,
    KeyComponentInvalid,
    KeyComponentRepeated,
)
from gridvend.keys.events import KeyEvent
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import KEY_LENGTHS, store_key_secret

_TARGET_TYPE = "keys.ceremony"
# Check values of the whole key one ceremony may be told before it is abandoned.
MAX_CHECK_TRIES = 3


def authenticate_custodian(username: str, password: str) -> User:
    """The active user with this password; a wrong one counts towards the login lockout."""
    with transaction.atomic(durable=True):
        user = (
            User.objects.select_for_update()
            .filter(username=username.strip()[:150], is_active=True)
            .first()
        )
        if user is None:
            raise CustodianNotAuthenticated()
        if user.locked_until is not None and user.locked_until > timezone.now():
            raise CustodianNotAuthenticated()
        if not user.check_password(password):
            # Counted and committed before refusing, as a wrong sign-in password is.
            identity.count_failed_login(user)
        else:
            return user
    raise CustodianNotAuthenticated()


class KeyCeremony:
    """One ceremony: ``enter`` once per custodian, then ``confirm`` the key's check value from
    its delivery note, which stores the key."""

    def __init__(
        self,
        *,
        opened_by: User,
        key_ref: str,
        dkga: str,
        components: int,
        sta_tables: str = "real",
        description: str = "",
        clock: Clock | None = None,
    ) -> None:
        if not opened_by.is_administrator:
            raise AccessDenied()
        if dkga not in KEY_LENGTHS:
            raise ValidationFailed(_("DKGA must be 02 or 04."), field="dkga")
        if sta_tables not in ("real", "sample"):
            raise ValidationFailed(_("Tables must be real or sample."), field="sta_tables")
        if components not in (2, 3):
            raise ValidationFailed(_("A key is entered as 2 or 3 components."), field="components")
        key_ref = key_ref.strip()
        if not key_ref or len(key_ref) > 60:
            raise ValidationFailed(_("A key reference is required."), field="key_ref")
        if VendingKeyRecord.objects.filter(key_ref=key_ref).exists():
            raise ValidationFailed(_("That key reference is already used."), field="key_ref")
        self.id = secrets.token_hex(6)
        self.opened_by = opened_by
        self.key_ref = key_ref
        self.dkga = dkga
        self.sta_tables = sta_tables
        self.description = description[:200]
        self.components = components
        self.clock = clock or SystemClock()
        self.started_at = self.clock.now()
        self.expires_at: datetime = self.started_at + timedelta(
            minutes=settings.KEY_CEREMONY_MINUTES
        )
        self.custodians: list[str] = []
        self.check_values: list[str] = []
        self.stored: VendingKeyRecord | None = None
        self.abandoned = False
        self.check_tries = 0
        self._key = bytearray(KEY_LENGTHS[dkga])
        self._audit(
            KeyEvent.CEREMONY_STARTED,
            {
                "key_ref": key_ref,
                "dkga": dkga,
                "components": components,
                "expires_at": self.expires_at.isoformat(),
            },
        )

    def __repr__(self) -> str:
        return f"KeyCeremony({self.key_ref}, {len(self.custodians)} of {self.components})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a key ceremony holds key material and cannot be pickled")

    @property
    def component_bytes(self) -> int:
        return KEY_LENGTHS[self.dkga]

    @property
    def is_open(self) -> bool:
        return self.stored is None and not self.abandoned

    @property
    def awaiting_check(self) -> bool:
        """Every component is in: the key waits for its check value to be confirmed."""
        return self.is_open and len(self.custodians) == self.components

    def enter(self, *, custodian: User, component_hex: str, component_check_value: str) -> str:
        """Take one custodian's component after checking it against its check value; returns
        that check value. The last component stores the key (see ``stored``)."""
        self._require_open()
        if self.awaiting_check:
            raise ValidationFailed(
                _("Every component is in; confirm the key's check value."), field="ceremony"
            )
        if not custodian.has_capability(Capability.KEY_CUSTODIAN):
            raise CustodianNotAuthorised(custodian.username)
        if custodian.username in self.custodians:
            raise CustodianAlreadyEntered(custodian.username)
        cleaned = component_hex.strip().replace(" ", "")
        component = _parse_component(cleaned, self.component_bytes)
        expected = component_check_value.strip().replace(" ", "").upper()
        actual = check_value(component)
        # Compared as bytes: typed text may be anything, and is echoed back only if it is hex.
        if not hmac.compare_digest(actual.encode(), expected.encode("utf-8", "replace")):
            shown = expected if expected and _is_hex(expected) and len(expected) <= 6 else "?"
            raise KeyComponentCheckFailed(shown)
        if actual in self.check_values:
            # Equal check values: the same component (or, once in 2**24, another one; entering
            # a fresh component is cheap). A repeated component cancels out of the XOR.
            raise KeyComponentRepeated(actual)
        for i, byte in enumerate(component):
            self._key[i] ^= byte
        del component
        self.custodians.append(custodian.username)
        self.check_values.append(actual)
        self._audit(
            KeyEvent.CEREMONY_COMPONENT_ENTERED,
            {
                "key_ref": self.key_ref,
                "component": len(self.custodians),
                "of": self.components,
                "custodian": custodian.username,
                "check_value": actual,
            },
            actor=custodian,
        )
        if len(self.custodians) == self.components:
            self._check_key()
        return actual

    def confirm(self, *, custodian: User, key_check_value: str) -> VendingKeyRecord:
        """Store the key once one of its custodians has typed its check value from the key's
        delivery note and it matches. A mismatch stores nothing; the third abandons."""
        self._require_open()
        if not self.awaiting_check:
            raise ValidationFailed(_("Not every component is in yet."), field="ceremony")
        if custodian.username not in self.custodians:
            raise CustodianNotAuthorised(custodian.username, reason="confirm")
        typed = key_check_value.strip().replace(" ", "").upper()
        actual = check_value(bytes(self._key))
        if not hmac.compare_digest(actual.encode(), typed.encode("utf-8", "replace")):
            self.check_tries += 1
            shown = typed if typed and _is_hex(typed) and len(typed) <= 6 else "?"
            self._audit(
                KeyEvent.CEREMONY_CHECK_VALUE_MISMATCH,
                {"key_ref": self.key_ref, "typed": shown, "try": self.check_tries},
                actor=custodian,
            )
            if self.check_tries >= MAX_CHECK_TRIES:
                self.abandon(reason="check value mismatch")
            raise KeyCheckValueMismatch(shown)
        self._finish(confirmed_by=custodian)
        assert self.stored is not None
        return self.stored

    def _require_open(self) -> None:
        if not self.is_open:
            raise ValidationFailed(_("This key ceremony is over."), field="ceremony")
        if self.clock.now() >= self.expires_at:
            self.abandon(reason="expired")
            raise KeyCeremonyExpired(settings.KEY_CEREMONY_MINUTES)

    def _check_key(self) -> None:
        """The components in: refuse a key one custodian would know whole (zero, or equal to a
        component) before anyone is asked to confirm it."""
        try:
            if not any(self._key):
                raise KeyComponentInvalid(self.component_bytes)
            final = check_value(bytes(self._key))
            if final in self.check_values:
                raise KeyComponentRepeated(final, reason="key")
        except Exception:
            self.abandon(reason="not stored")
            raise

    def abandon(self, *, reason: str) -> None:
        if not self.is_open:
            return
        self.abandoned = True
        self._wipe()
        self._audit(
            KeyEvent.CEREMONY_ABANDONED,
            {"key_ref": self.key_ref, "reason": reason[:60], "entered": len(self.custodians)},
        )

    def _finish(self, *, confirmed_by: User) -> None:
        secret = bytes(self._key)
        self._wipe()
        try:
            self.stored = store_key_secret(
                actor=self.opened_by,
                key_ref=self.key_ref,
                secret=secret,
                dkga=self.dkga,
                sta_tables=self.sta_tables,
                description=self.description,
                details={
                    "ceremony": self.id,
                    "custodians": list(self.custodians),
                    "component_check_values": list(self.check_values),
                    "check_value_confirmed_by": confirmed_by.username,
                },
            )
        except Exception:
            self.abandon(reason="not stored")
            raise
        finally:
            del secret

    def _wipe(self) -> None:
        for i in range(len(self._key)):
            self._key[i] = 0

    def _audit(self, event: str, after: dict[str, object], actor: User | None = None) -> None:
        with transaction.atomic():
            record(
                actor=actor or self.opened_by,
                event_type=event,
                target_type=_TARGET_TYPE,
                target_id=self.id,
                target_label=f"key ceremony {self.id} for {self.key_ref}",
                after=after,
            )


def _is_hex(text: str) -> bool:
    return text.isascii() and all(c in "0123456789ABCDEFabcdef" for c in text)


def _parse_component(cleaned: str, length: int) -> bytes:
    if len(cleaned) != 2 * length or not _is_hex(cleaned):
        raise KeyComponentInvalid(length)
    try:
        component = bytes.fromhex(cleaned)
    except ValueError:
        raise KeyComponentInvalid(length) from None
    if not any(component):
        raise KeyComponentInvalid(length)
    return component
