"""Partners' API credentials: keys issued once and kept only as digests, who a call is from
(``authenticate``), request signatures, the IP allow-list and per-key rate limits.

A key reads ``gvk_<10 base32>_<40 base32>``: its first 14 characters are the public ``prefix``
the key is found by, the whole key is the secret. Only HMAC-SHA256(pepper, key) is stored, and
compared in constant time. docs/api.md ("Authentication") is the integrator's side of this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hmac import compare_digest

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.models import User
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.keys.crypto import Sealed, seal, unseal
from gridvend.org.permissions import address_allowed
from gridvend.partners.errors import (
    AddressNotAllowed,
    CredentialsInvalid,
    CredentialsMissing,
    KeyExpired,
    KeyRevoked,
    PartnerKeyInvalid,
    PartnerNotActive,
    RateLimited,
    SignatureExpired,
    SignatureInvalid,
    SignatureReplayed,
    SignatureRequired,
)
from gridvend.partners.events import PartnerEvent
from gridvend.partners.models import Partner, PartnerKey, PartnerStatus
from gridvend.partners.services.setup import _require_manager

log = logging.getLogger(__name__)

KEY_TAG = "gvk_"
SIGNING_TAG = "gvs_"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
PREFIX_LENGTH = len(KEY_TAG) + 10
_SECRET_LENGTH = 40  # 200 bits
KEY_LENGTH = PREFIX_LENGTH + 1 + _SECRET_LENGTH
SIGNING_SECRET_LENGTH = len(SIGNING_TAG) + 52  # 260 bits
# A header longer than any valid one is refused before it is decoded.
MAX_AUTHORIZATION = 512
SIGNATURE_WINDOW_SECONDS = 300
MAX_TIMESTAMP = 40
RATE_WINDOW_SECONDS = 60
MIN_RATE_LIMIT = 1
MAX_RATE_LIMIT = 100_000
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)
MAX_KEY_LIFETIME = timedelta(days=5 * 366)
LAST_USED_EVERY = timedelta(minutes=1)
_PEPPER_CONTEXT = b"gridvend.partners.api-key-pepper.v1"


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its signing secret, as they are shown once; nothing else keeps them."""

    key: PartnerKey
    secret: str
    signing_secret: str

    def __repr__(self) -> str:
        return f"IssuedKey({self.key.prefix}, <secret>)"


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _pepper() -> bytes:
    configured: str = settings.API_KEY_PEPPER
    if configured:
        return configured.encode("utf-8")
    return hmac.new(settings.SECRET_KEY.encode("utf-8"), _PEPPER_CONTEXT, hashlib.sha256).digest()


def key_digest(key: str) -> str:
    return hmac.new(_pepper(), key.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


# Compared against when the prefix is unknown, so that an unknown prefix and a wrong key take
# the same steps (one HMAC, one comparison) and get the same answer.
_NO_KEY_DIGEST = "0" * 64


def _key_ref(prefix: str) -> str:
    return f"partner-key:{prefix}"


def _sealed(row: PartnerKey) -> Sealed:
    return Sealed(bytes(row.signing_nonce), bytes(row.signing_ciphertext), bytes(row.signing_tag))


def signing_secret(row: PartnerKey) -> str:
    return unseal(_sealed(row), key_ref=_key_ref(row.prefix)).decode("ascii")


# --- issuing and revoking (services) ---------------------------------------------------------


def _check_label(label: str) -> str:
    try:
        return clean_text(label, max_length=120, field="label")
    except InvalidInput:
        raise PartnerKeyInvalid(
            field="label", problem="at most 120 characters, no control characters"
        ) from None


def issue_key(
    *,
    actor: User,
    partner: Partner,
    label: str = "",
    expires_at: datetime | None = None,
    requires_signature: bool = False,
    rate_limit_per_minute: int = 600,
    replaces: PartnerKey | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    now: datetime | None = None,
) -> IssuedKey:
    """A new key for the partner, shown once. With ``replaces``, the old key keeps working for
    ``overlap`` more (at most 30 days; never longer than it would have anyway), then expires."""
    _require_manager(actor, partner.org_unit)
    now = now or timezone.now()
    clean_label = _check_label(label)
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise PartnerKeyInvalid(field="expires_at", problem="it needs a time zone")
        if not now < expires_at <= now + MAX_KEY_LIFETIME:
            raise PartnerKeyInvalid(field="expires_at", problem="from now to five years ahead")
    if isinstance(rate_limit_per_minute, bool) or not (
        MIN_RATE_LIMIT <= rate_limit_per_minute <= MAX_RATE_LIMIT
    ):
        raise PartnerKeyInvalid(field="rate_limit_per_minute", problem="1 to 100000 a minute")
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise PartnerKeyInvalid(field="overlap", problem="zero to 30 days")
    prefix = KEY_TAG + _random(PREFIX_LENGTH - len(KEY_TAG))
    secret = f"{prefix}_{_random(_SECRET_LENGTH)}"
    signing = SIGNING_TAG + _random(SIGNING_SECRET_LENGTH - len(SIGNING_TAG))
    sealed = seal(signing.encode("ascii"), key_ref=_key_ref(prefix))
    with transaction.atomic(durable=True):
        old: PartnerKey | None = None
        if replaces is not None:
            old = PartnerKey.objects.select_for_update().filter(pk=replaces.pk).first()
            if old is None or old.partner_id != partner.pk:
                raise PartnerKeyInvalid(field="replaces", problem="not a key of this partner")
            if old.is_revoked() or old.is_expired(now):
                raise PartnerKeyInvalid(field="replaces", problem="that key no longer works")
            if PartnerKey.objects.filter(replaces=old).exists():
                raise PartnerKeyInvalid(field="replaces", problem="that key was already replaced")
            ends = now + overlap
            old.expires_at = ends if old.expires_at is None else min(old.expires_at, ends)
            old.save(update_fields=["expires_at"])
        row = PartnerKey.objects.create(
            partner=partner,
            prefix=prefix,
            digest=key_digest(secret),
            label=clean_label,
            created_at=now,
            created_by=actor,
            expires_at=expires_at,
            requires_signature=requires_signature,
            signing_nonce=sealed.nonce,
            signing_ciphertext=sealed.ciphertext,
            signing_tag=sealed.tag,
            rate_limit_per_minute=rate_limit_per_minute,
            replaces=old,
        )
        after: dict[str, object] = {
            "prefix": prefix,
            "label": clean_label,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "requires_signature": requires_signature,
            "rate_limit_per_minute": rate_limit_per_minute,
        }
        if old is not None and old.expires_at is not None:
            after["replaces"] = old.prefix
            after["replaced_key_expires_at"] = old.expires_at.isoformat()
        record(actor=actor, event_type=PartnerEvent.KEY_ISSUED, target=row, after=after)
    return IssuedKey(key=row, secret=secret, signing_secret=signing)


def revoke_key(*, actor: User, key: PartnerKey, now: datetime | None = None) -> PartnerKey:
    """The key stops working at once. Revoking a revoked key changes nothing."""
    _require_manager(actor, key.partner.org_unit)
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        locked = (
            PartnerKey.objects.select_for_update(of=("self",))
            .select_related("partner__org_unit")
            .get(pk=key.pk)
        )
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = now
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
        record(
            actor=actor,
            event_type=PartnerEvent.KEY_REVOKED,
            target=locked,
            before={"revoked_at": None},
            after={"revoked_at": now.isoformat()},
        )
    return locked


# --- authenticating a call -------------------------------------------------------------------


def _presented(authorization: str | None) -> tuple[str, str | None]:
    """The key a header carries and, for Basic, the user part the client sent with it."""
    if authorization is None or not authorization.strip():
        raise CredentialsMissing()
    if len(authorization) > MAX_AUTHORIZATION:
        raise CredentialsInvalid()
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value, None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsInvalid() from None
        user, colon, password = decoded.partition(":")
        if not colon:
            raise CredentialsInvalid()
        return password, user
    raise CredentialsInvalid()


def _well_formed(key: str) -> bool:
    return (
        len(key) == KEY_LENGTH
        and key.startswith(KEY_TAG)
        and key[PREFIX_LENGTH] == "_"
        and all(c in _ALPHABET for c in key[len(KEY_TAG) : PREFIX_LENGTH])
        and all(c in _ALPHABET for c in key[PREFIX_LENGTH + 1 :])
    )


def _find_key(key: str, user: str | None) -> PartnerKey:
    """The key row the presented key names, after a constant-time comparison of digests; the
    same refusal, after the same work, whatever is wrong."""
    row = None
    if _well_formed(key):
        row = (
            PartnerKey.objects.select_related("partner__org_unit")
            .filter(prefix=key[:PREFIX_LENGTH])
            .first()
        )
    presented = key_digest(key)
    matches = compare_digest(presented, row.digest if row is not None else _NO_KEY_DIGEST)
    if row is None or not matches:
        raise CredentialsInvalid()
    if user is not None and user not in (row.prefix, row.partner.code):
        raise CredentialsInvalid()
    return row


def _increment(name: str) -> int:
    """``cache.incr``, atomic on every backend: Redis increments atomically, but the database
    cache reads and then writes, so two processes could both count 5 as 6; there the cache row
    is locked for the increment."""
    backend = caches["default"]
    if not isinstance(backend, DatabaseCache):
        return int(backend.incr(name))
    alias = router.db_for_write(backend.cache_model_class)
    connection = connections[alias]
    with transaction.atomic(using=alias):
        if connection.features.has_select_for_update:
            table = connection.ops.quote_name(str(settings.CACHES["default"]["LOCATION"]))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT cache_key FROM {table} WHERE cache_key = %s FOR UPDATE",  # noqa: S608
                    [backend.make_and_validate_key(name)],
                )
        return int(backend.incr(name))


def _rate(row: PartnerKey, now: datetime) -> None:
    """A fixed one-minute window per key, counted in the shared cache."""
    seconds = int(now.timestamp())
    window = seconds // RATE_WINDOW_SECONDS
    name = f"partner-rate:{row.prefix}:{window}"
    cache.add(name, 0, timeout=RATE_WINDOW_SECONDS * 2)
    try:
        count = _increment(name)
    except ValueError:  # evicted between add and incr: this call starts the window again
        cache.add(name, 1, timeout=RATE_WINDOW_SECONDS * 2)
        count = 1
    if count > row.rate_limit_per_minute:
        retry_after = RATE_WINDOW_SECONDS - seconds % RATE_WINDOW_SECONDS
        raise RateLimited(limit=row.rate_limit_per_minute, retry_after=retry_after)


def parse_timestamp(raw: str) -> datetime | None:
    """Unix seconds or an RFC 3339 time with its offset; None for anything else."""
    text = raw.strip()
    if not text or len(text) > MAX_TIMESTAMP:
        return None
    if text.isascii() and text.isdigit():
        if len(text) > 12:
            return None
        return datetime.fromtimestamp(int(text), tz=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None or "T" not in text.upper():
        return None
    return parsed


def string_to_sign(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    """What a signature covers: ``METHOD\\nPATH\\nTIMESTAMP\\nhex(sha256(body))``."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{digest}".encode()


def sign(secret: str, *, method: str, path: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a client sends as X-Gridvend-Signature (clients and tests use it)."""
    message = string_to_sign(method, path, timestamp, body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _check_signature(
    row: PartnerKey,
    *,
    method: str,
    path: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
) -> None:
    if not timestamp or not signature:
        if row.requires_signature or timestamp or signature:
            raise SignatureRequired()
        return
    when = parse_timestamp(timestamp)
    if when is None:
        raise SignatureInvalid()
    if abs((now - when).total_seconds()) > SIGNATURE_WINDOW_SECONDS:
        raise SignatureExpired(window=SIGNATURE_WINDOW_SECONDS)
    presented = signature.strip().lower()
    expected = sign(signing_secret(row), method=method, path=path, timestamp=timestamp, body=body)
    well_formed = len(presented) == 64 and all(c in "0123456789abcdef" for c in presented)
    if not well_formed or not compare_digest(presented, expected):
        raise SignatureInvalid()
    # Remembered for longer than a timestamp stays acceptable, by the first process to see it.
    if not cache.add(
        f"partner-sig:{row.prefix}:{expected}", 1, timeout=SIGNATURE_WINDOW_SECONDS * 2 + 60
    ):
        raise SignatureReplayed()


def _note_use(row: PartnerKey, now: datetime) -> None:
    """``last_used_at``, at most once a minute per key (the cache decides which process writes
    it) and never waited for: a key row locked by a revocation is skipped, an error ignored."""
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_EVERY:
        return
    if not cache.add(f"partner-used:{row.prefix}", 1, timeout=int(LAST_USED_EVERY.total_seconds())):
        return
    try:
        with transaction.atomic():
            free = (
                PartnerKey.objects.select_for_update(skip_locked=True)
                .filter(pk=row.pk)
                .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY))
                .values_list("pk", flat=True)
            )
            PartnerKey.objects.filter(pk__in=list(free)).update(last_used_at=now)
    except DatabaseError:
        log.warning("last use of partner key %s not recorded", row.prefix, exc_info=True)


def authenticate(
    *,
    authorization: str | None,
    ip: str | None,
    method: str,
    path: str,
    body: bytes,
    timestamp: str | None = None,
    signature: str | None = None,
    now: datetime | None = None,
) -> Partner:
    """The partner a call comes from, or a ``CredentialRefused`` (its ``http_status`` and stable
    code): key, key state, partner status, address, rate, then signature, in that order.

    ``path`` is the path and query string as the request line has them; ``body`` the raw body.
    Nothing is written for a refused call (the cache counts it against the key's rate).
    """
    now = now or timezone.now()
    key, user = _presented(authorization)
    row = _find_key(key, user)
    if row.revoked_at is not None:
        raise KeyRevoked(prefix=row.prefix)
    if row.is_expired(now):
        raise KeyExpired(prefix=row.prefix)
    partner = row.partner
    if partner.status != PartnerStatus.ACTIVE:
        raise PartnerNotActive(partner=partner.code, status=partner.status)
    if not address_allowed(partner.ip_allow_list, ip):
        raise AddressNotAllowed(ip=(ip or "")[:45])
    _rate(row, now)
    _check_signature(
        row,
        method=method,
        path=path,
        body=body,
        timestamp=timestamp,
        signature=signature,
        now=now,
    )
    _note_use(row, now)
    return partner
