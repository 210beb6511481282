"""A station's enrolment on the master (``POST /station-api/v1/enrol``): the one-time code is
checked (single use, until it expires, a few wrong tries then locked), the station's public key
is bound to it, and the answer carries what the station needs to sell on its own: its facts, the
master's signing public key, the vending keys of its meters' supply groups (a selling station
only; encrypted under a key agreed for this enrolment) and its latest allowance.

The station sends an ephemeral X25519 public key with its request; the master answers with one
of its own. The vending keys are wrapped (AES-256-GCM, the key reference and station code as
associated data) under HKDF-SHA256 over the X25519 shared secret and the code (salt: the
station's code): someone who only reads the exchange, even knowing the code, cannot open them.
A second key derived from the code alone MACs the answer (``X-Enrol-Proof``), so the station
trusts the master's public keys it is given only from someone who knew its code. The code itself
is never stored, only its SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from typing import Any

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.DH import import_x25519_public_key, key_agreement
from Crypto.Protocol.KDF import HKDF
from Crypto.PublicKey import ECC
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from gridvend.audit.changes import audited_change
from gridvend.audit.services import record
from gridvend.keys.crypto import unseal
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import sealed_of
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter
from gridvend.stations import protocol
from gridvend.stations.errors import (
    StationEnrolLocked,
    StationEnrolRefused,
    StationEnrolRelayMismatch,
    StationRelayNotEnrolled,
)
from gridvend.stations.events import StationEvent
from gridvend.stations.models import Station, StationRole, StationStatus
from gridvend.stations.services import allowances, signing
from gridvend.stations.services.registration import code_hash

# Wrong codes a station may try before its enrolment locks (a new code unlocks it).
ENROL_ATTEMPTS = 5
HEADER_PROOF = "X-Enrol-Proof"
MAX_ENROL_BODY = 4096
_WRAP_INFO = b"gridvend station enrol: vending keys v2 (x25519)"
_PROOF_INFO = b"gridvend station enrol: answer proof v1"
_PRINTABLE = re.compile(r"[\x21-\x7e]{1,40}")

logger = logging.getLogger("gridvend.stations")


def _code_bytes(enrol_code: str) -> bytes:
    return enrol_code.strip().upper().encode("ascii", "replace")


def _derive(enrol_code: str, station_code: str, info: bytes) -> bytes:
    key = HKDF(_code_bytes(enrol_code), 32, station_code.encode("utf-8"), SHA256, context=info)
    assert isinstance(key, bytes)
    return key


class ExchangeKeyInvalid(ValueError):
    """Not the hex of an X25519 public key (or one of low order, which agrees on nothing)."""


def new_exchange_key() -> ECC.EccKey:
    """An ephemeral X25519 key pair, for one enrolment or one delivery of vending keys."""
    return ECC.generate(curve="curve25519")


def exchange_public_hex(key: ECC.EccKey) -> str:
    return bytes(key.public_key().export_key(format="raw")).hex()


def shared_secret(own: ECC.EccKey, their_public_hex: object) -> bytes:
    """The X25519 shared secret of ``own`` and the other side's public key."""
    if not (isinstance(their_public_hex, str) and protocol.HEX64.fullmatch(their_public_hex)):
        raise ExchangeKeyInvalid("the exchange key is not 32 bytes of hex")
    try:
        theirs = import_x25519_public_key(bytes.fromhex(their_public_hex))
        secret = key_agreement(static_priv=own, static_pub=theirs, kdf=lambda z: z)
    except ValueError:
        raise ExchangeKeyInvalid("the exchange key is not an X25519 public key") from None
    assert isinstance(secret, bytes)
    return secret


def answer_proof(*, enrol_code: str, station_code: str, body: bytes) -> str:
    """``X-Enrol-Proof``: HMAC-SHA256 of the answer's body under the code's proof key."""
    key = _derive(enrol_code, station_code, _PROOF_INFO)
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def wrap_key(*, shared: bytes, enrol_code: str, station_code: str) -> bytes:
    """The key the enrolment's vending keys are wrapped under: HKDF over the X25519 shared
    secret and the code (neither alone gives it)."""
    key = HKDF(
        shared + _code_bytes(enrol_code),
        32,
        station_code.encode("utf-8"),
        SHA256,
        context=_WRAP_INFO,
    )
    assert isinstance(key, bytes)
    return key


def vending_key_aad(station_code: str, key_ref: str) -> bytes:
    return f"{station_code}\n{key_ref}".encode()


def _key_refs(station: Station) -> list[str]:
    """The key references of the meters of the station's unit and of their pending key
    changes: everything the station may need to make a token for them."""
    meters = Meter.objects.filter(org_unit__path__startswith=station.org_unit.path)
    refs = set(meters.values_list("key_ref", flat=True))
    pending = KeyChange.objects.filter(
        meter__org_unit__path__startswith=station.org_unit.path, status=KeyChangeStatus.PENDING
    ).values_list("new_params", flat=True)
    for params in pending:
        if isinstance(params, dict) and isinstance(params.get("key_ref"), str):
            refs.add(params["key_ref"])
    return sorted(refs)


def wrapped_vending_keys(
    station: Station, key: bytes, *, leave_out: frozenset[str] = frozenset()
) -> list[dict[str, str]]:
    """The vending keys a selling station needs (``_key_refs``), each sealed under ``key``; a
    relay sells nothing and is sent none. ``leave_out``: key references it holds already."""
    if station.role != StationRole.STATION:
        return []
    wrapped = []
    refs = [ref for ref in _key_refs(station) if ref not in leave_out]
    rows = VendingKeyRecord.objects.filter(Q(key_ref__in=refs), is_active=True).order_by("key_ref")
    for row in rows:
        secret = unseal(sealed_of(row), key_ref=row.key_ref)
        nonce = secrets.token_bytes(12)
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
        cipher.update(vending_key_aad(station.code, row.key_ref))
        ciphertext, tag = cipher.encrypt_and_digest(secret)
        del secret
        wrapped.append(
            {
                "key_ref": row.key_ref,
                "dkga": row.dkga,
                "sta_tables": row.sta_tables,
                "description": row.description,
                "check_value": row.check_value,
                "nonce": nonce.hex(),
                "ciphertext": ciphertext.hex(),
                "tag": tag.hex(),
            }
        )
    return wrapped


def _refuse(station: Station | None, code: str, why: str, *, count: bool) -> None:
    """Record a refused enrolment. Anyone may call the enrolment unauthenticated, so only a
    wrong code for a station waiting with a live code is audited (and counted, in its own
    transaction, so the refusal that follows does not roll it back): at most ``ENROL_ATTEMPTS``
    rows per code issued, as the enrolment locks after them. Every other refusal (an unknown
    station, one not waiting, a locked enrolment, an expired code) only goes to the log."""
    if station is None or not count:
        logger.warning("enrolment refused for station %r: %s", code[:40], why)
        return
    with transaction.atomic(durable=True):
        Station.objects.filter(pk=station.pk).update(enrol_failures=F("enrol_failures") + 1)
        record(
            actor=None,
            event_type=StationEvent.ENROL_REFUSED,
            target=station,
            after={"reason": why},
        )


def enrol_station(
    *,
    code: str,
    enrol_code: str,
    public_key: str,
    app_version: str,
    exchange_key: str,
    under_relay: bool | None = None,
) -> dict[str, Any]:
    """Bind ``public_key`` to the pending station ``code`` if ``enrol_code`` is its current
    one-time code; the enrolment answer (docs/stations.md). ``exchange_key``: the station's
    ephemeral X25519 public key (hex) the vending keys are wrapped for. ``under_relay``: whether
    the station enrols to talk through a relay (``station init --via``), checked against its
    registration before the code is used. Refused with ``STATION_ENROL_REFUSED`` (unknown
    station, wrong, used or expired code, a station not waiting for enrolment, a bad exchange
    key) or ``STATION_ENROL_LOCKED`` (too many wrong codes); for the right code of a station
    whose relay has not enrolled yet, ``STATION_RELAY_NOT_ENROLLED``, and for the right code
    with ``under_relay`` not as registered, ``STATION_ENROL_RELAY_MISMATCH`` (the code stays
    good for both)."""
    if not (isinstance(code, str) and 0 < len(code) <= 40):
        raise StationEnrolRefused()
    if not (isinstance(enrol_code, str) and 0 < len(enrol_code) <= 64):
        raise StationEnrolRefused()
    if not (isinstance(public_key, str) and protocol.HEX64.fullmatch(public_key)):
        raise StationEnrolRefused()
    if not (isinstance(exchange_key, str) and protocol.HEX64.fullmatch(exchange_key)):
        raise StationEnrolRefused()
    if under_relay is not None and not isinstance(under_relay, bool):
        raise StationEnrolRefused()
    version = app_version if isinstance(app_version, str) else ""
    if version and not _PRINTABLE.fullmatch(version):
        version = ""
    station = Station.objects.select_related("parent").filter(code=code).first()
    if station is None:
        _refuse(None, code, "unknown station", count=False)
        raise StationEnrolRefused()
    if station.status != StationStatus.PENDING or not station.enrol_code_hash:
        _refuse(station, code, f"the station is {station.status}", count=False)
        raise StationEnrolRefused()
    if station.enrol_failures >= ENROL_ATTEMPTS:
        _refuse(station, code, "locked", count=False)
        raise StationEnrolLocked()
    if not hmac.compare_digest(station.enrol_code_hash, code_hash(enrol_code)):
        _refuse(station, code, "wrong code", count=True)
        if station.enrol_failures + 1 >= ENROL_ATTEMPTS:
            raise StationEnrolLocked()
        raise StationEnrolRefused()
    now = timezone.now()
    if station.enrol_code_expires_at is None or station.enrol_code_expires_at <= now:
        _refuse(station, code, "expired code", count=False)
        raise StationEnrolRefused()
    relay = station.parent
    if under_relay is not None and under_relay != (relay is not None):
        _refuse(station, code, "--via does not match the registration", count=False)
        raise StationEnrolRelayMismatch(
            station=station.code, registered="relay" if relay is not None else "none"
        )
    # Agreed before the code is used: a key that agrees on nothing leaves the code good.
    own_exchange = new_exchange_key()
    try:
        shared = shared_secret(own_exchange, exchange_key)
    except ExchangeKeyInvalid:
        _refuse(station, code, "the exchange key is not an X25519 key", count=False)
        raise StationEnrolRefused() from None
    if relay is not None and not relay.public_key:
        # Its answer must name the relay's key; the code stays good for a second try.
        _refuse(station, code, "the relay is not enrolled", count=False)
        raise StationRelayNotEnrolled(relay=relay.code)
    with transaction.atomic(durable=True):
        locked = (
            Station.objects.select_for_update(of=("self",))
            .select_related("org_unit", "vending_point", "parent")
            .get(pk=station.pk)
        )
        # Checked again under the lock: two enrolments with the same code, one wins.
        if locked.status != StationStatus.PENDING or locked.enrol_code_hash != code_hash(
            enrol_code
        ):
            raise StationEnrolRefused()
        with audited_change(
            actor=None,
            instance=locked,
            event=StationEvent.ENROLLED,
            after_extra={"public_key": public_key, "app_version": version},
        ):
            locked.status = StationStatus.ACTIVE
            locked.public_key = public_key
            locked.enrolled_at = now
            locked.last_contact_at = now
            locked.app_version = version
            locked.enrol_code_hash = ""
            locked.enrol_code_expires_at = None
            locked.enrol_failures = 0
            locked.key_sequence += 1
        master_public = signing.signing_key().public_hex
        parent = locked.parent
        statements: dict[str, Any] = {}
        if locked.role == StationRole.RELAY:
            # Handed by the relay to the stations below it: how they take its new key after
            # it enrolled again (its disk lost).
            statements["key_statement"] = relay_key_statement(locked).wire()
        if parent is not None:
            statements["upstream_key_statement"] = relay_key_statement(parent).wire()
        return {
            "station": {
                "code": locked.code,
                "name": locked.name,
                "role": locked.role,
                "org_unit_id": locked.org_unit_id,
                "org_unit_path": locked.org_unit.path,
                "vending_point_id": locked.vending_point_id,
                "vending_point_code": locked.vending_point.code if locked.vending_point else None,
                "tid_lane": locked.tid_lane,
            },
            "master_public_key": master_public,
            # The key that signs the answers of the address the station talks to: a relay's
            # station key when it enrols through one (the relay signs its answers with it).
            "upstream_public_key": parent.public_key if parent is not None else master_public,
            # The master's half of this enrolment's key agreement (its private half is dropped
            # with this answer).
            "exchange_key": exchange_public_hex(own_exchange),
            "vending_keys": wrapped_vending_keys(
                locked, wrap_key(shared=shared, enrol_code=enrol_code, station_code=locked.code)
            ),
            "allowance": allowances.allowance_wire(allowances.latest_allowance(locked)),
            "server_time": protocol.utc_text(now),
            **statements,
        }


def relay_key_statement(relay: Station) -> protocol.RelayKey:
    """The master's signed statement of ``relay``'s current key (docs/stations.md, "Relay key
    statement"): its code, public key, enrolment time and enrolment count."""
    if not relay.public_key or relay.enrolled_at is None:
        raise ValueError("the relay is not enrolled")
    return protocol.make_relay_key(
        seed=signing.signing_key().seed,
        relay=relay.code,
        public_key=relay.public_key,
        valid_from=relay.enrolled_at,
        sequence=max(relay.key_sequence, 1),
    )
