"""Vending keys a selling station gets after its enrolment (``POST /station-api/v1/vending-keys``):
a supply group added to its unit later, a meter moved in with another key, a key change's new
key. Enrolment sends the keys of the unit as they are then; without this a station could never
sell to a meter of a new supply group.

The station asks when a meter it pulled names a key reference it does not hold, sending an
ephemeral X25519 public key in its signed request (so no one can swap it) and the references it
holds. The master answers, signed, with an ephemeral key of its own and each missing vending key
sealed (AES-256-GCM, station code and key reference as associated data) under HKDF-SHA256 over
the X25519 shared secret: only the station that holds its private half opens them, not whoever
reads the link, nor a relay that passes the request up and the answer down. A relay signs the
answer again with its own key, so the master also signs a statement binding the station, both
exchange keys and the sealed items (``protocol.make_vending_keys_statement``); the relay passes
it down unchanged and the station checks it with the master's key before it opens anything:
a relay cannot substitute an agreement and vending keys of its own."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import requests
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.audit.services import record
from gridvend.keys.models import VendingKeyRecord
from gridvend.meters.models import KeyChange, KeyChangeStatus, Meter
from gridvend.stations import local, protocol
from gridvend.stations.client import LinkDown, MasterClient, check_answer_signature
from gridvend.stations.errors import StationEnrolFailed, StationInvalid
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalStation, Station, StationRole
from gridvend.stations.services import enrolment, signing, station_init

PATH = "vending-keys"
MAX_BODY = 64 * 1024
# Key references a station may say it holds (the request's body is capped before this).
MAX_HELD = 1000
_KEY_REF = re.compile(r"[\x21-\x7e]{1,60}")
_INFO = b"gridvend station: vending keys delivery v1"
# The headers a relay passes up unchanged: the station's own signature covers the request.
_PASSED_UP = (
    protocol.HEADER_STATION,
    protocol.HEADER_TIME,
    protocol.HEADER_NONCE,
    protocol.HEADER_SIGNATURE,
)

logger = logging.getLogger("gridvend.stations")


def delivery_key(*, shared: bytes, station_code: str) -> bytes:
    key = HKDF(shared, 32, station_code.encode("utf-8"), SHA256, context=_INFO)
    assert isinstance(key, bytes)
    return key


# --- master --------------------------------------------------------------------------------


def _held(value: object) -> frozenset[str]:
    if not isinstance(value, list) or len(value) > MAX_HELD:
        raise StationInvalid(field="held", problem=f"a list of at most {MAX_HELD} key references")
    if not all(isinstance(ref, str) and _KEY_REF.fullmatch(ref) for ref in value):
        raise StationInvalid(field="held", problem="a key reference is not a short printable text")
    return frozenset(value)


def deliver_vending_keys(*, station: Station, body: object, nonce: str = "") -> dict[str, Any]:
    """The answer to a selling station's ``{exchange_key, held}``: the vending keys of its
    unit's meters (and their pending key changes) it does not hold, sealed for it alone.
    Audited when it carries any, once per signed request: the request's ``nonce`` is kept in
    the event, and a replay of it (someone on the network sending the same signed request again
    within the clock skew) is answered (sealed for the station's key, useless to anyone else)
    but not audited again, so no stranger can grow the log."""
    if not isinstance(body, dict) or set(body) != {"exchange_key", "held"}:
        raise StationInvalid(field="body", problem="a request is {exchange_key, held}")
    held = _held(body["held"])
    if station.role != StationRole.STATION:
        raise StationInvalid(field="station", problem="a relay sells nothing and holds no key")
    own = enrolment.new_exchange_key()
    try:
        shared = enrolment.shared_secret(own, body["exchange_key"])
    except enrolment.ExchangeKeyInvalid as bad:
        raise StationInvalid(field="exchange_key", problem=str(bad)) from None
    wrapped = enrolment.wrapped_vending_keys(
        station, delivery_key(shared=shared, station_code=station.code), leave_out=held
    )
    if wrapped:
        with transaction.atomic():
            # The station's row locked: two copies of one request sent at once audit once.
            Station.objects.select_for_update().filter(pk=station.pk).first()
            if not _replayed(station, nonce):
                record(
                    actor=None,
                    event_type=StationEvent.VENDING_KEYS_SENT,
                    target=station,
                    after={"key_refs": [item["key_ref"] for item in wrapped], "nonce": nonce},
                )
    master_exchange_key = enrolment.exchange_public_hex(own)
    return {
        "exchange_key": master_exchange_key,
        "vending_keys": wrapped,
        # Signed with the master's station-protocol key: a relay re-signs the answer, but
        # passes this down unchanged, and the station checks it with the master's key.
        "statement": protocol.make_vending_keys_statement(
            seed=signing.signing_key().seed,
            station=station.code,
            station_exchange_key=body["exchange_key"],
            master_exchange_key=master_exchange_key,
            vending_keys=wrapped,
        ),
    }


def _replayed(station: Station, nonce: str) -> bool:
    """Whether a delivery to ``station`` under this request ``nonce`` was audited within the
    window a signed request is accepted in (its time within the skew either side)."""
    if not nonce:
        return False
    window = timedelta(seconds=2 * int(settings.STATION_CLOCK_SKEW_SECONDS) + 60)
    sent = AuditEvent.objects.filter(
        event_type=StationEvent.VENDING_KEYS_SENT,
        target_type=Station._meta.label_lower,
        target_id=str(station.pk),
        occurred_at__gte=timezone.now() - window,
    ).values_list("after", flat=True)
    return any(isinstance(after, dict) and after.get("nonce") == nonce for after in sent)


def pass_up(request_headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
    """On a relay: the station's signed request, unchanged, to the relay's own upstream (which
    checks the station's signature), and its answer once its signature verifies under the key
    this relay trusts upstream (or a new key of the relay above, vouched for by the master's
    statement in ``X-Relay-Key``, which it adopts as its other calls do); the relay signs it
    again for the station. The vending keys in it are sealed for the station: the relay cannot
    open them, and their statement, signed by the master, goes down unchanged."""
    me = LocalStation.objects.get(pk=1)
    url = me.master_url.rstrip("/") + "/station-api/v1/" + PATH
    headers = {name: request_headers.get(name, "") for name in _PASSED_UP}
    headers["Content-Type"] = "application/json"
    try:
        reply = requests.post(url, data=body, headers=headers, timeout=30, stream=True)
        raw = reply.raw.read(4 * 1024 * 1024 + 1, decode_content=True)
    except requests.RequestException as failed:
        raise LinkDown(f"{type(failed).__name__}: {failed}") from failed
    if len(raw) > 4 * 1024 * 1024 or reply.status_code >= 500:
        raise LinkDown(f"the upstream answered {reply.status_code}")
    # As every other call: an answer signed with the upstream's new key is taken on the
    # master's statement of it (X-Relay-Key), after the relay above was enrolled again.
    check_answer_signature(
        reply.headers,
        protocol.answer_message(headers[protocol.HEADER_NONCE], raw),
        trusted=me.upstream_public_key,
        upstream_keys=local.upstream_keys(me),
    )
    try:
        data = protocol.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as bad:
        raise LinkDown(f"the upstream's answer cannot be trusted: {bad}") from bad
    if not isinstance(data, dict):
        raise LinkDown("the upstream's answer is not an object")
    return reply.status_code, data


# --- station -------------------------------------------------------------------------------


def _check_statement(
    answer: dict[str, Any], *, station: LocalStation, own_exchange_key: str
) -> None:
    """The master's own signed word for this answer, checked with the master's key this station
    was given at enrolment (the master answers every enrolment itself, relay or not): the
    answer's signature is only the nearest hop's, and a relay could otherwise agree a key of
    its own with the station and seal forged vending keys under it. Logged and refused as a
    link that cannot be trusted (nothing is kept)."""
    try:
        protocol.read_vending_keys_statement(
            answer.get("statement"),
            master_public_hex=station.master_public_key,
            station=station.code,
            station_exchange_key=own_exchange_key,
            master_exchange_key=answer.get("exchange_key"),
            vending_keys=answer.get("vending_keys"),
        )
    except (protocol.BadSignature, ValueError, KeyError, TypeError) as bad:
        logger.error(
            "station %s: vending keys refused, not vouched for by the master: %s",
            station.code,
            bad,
        )
        raise LinkDown(f"the vending keys are not vouched for by the master: {bad}") from None


def missing_key_refs() -> list[str]:
    """Key references this station's meters (and their pending key changes) name that it does
    not hold: what it could not make a token with."""
    wanted = set(Meter.objects.exclude(key_ref="").values_list("key_ref", flat=True))
    for params in KeyChange.objects.filter(status=KeyChangeStatus.PENDING).values_list(
        "new_params", flat=True
    ):
        if isinstance(params, dict) and isinstance(params.get("key_ref"), str):
            wanted.add(params["key_ref"])
    held = set(VendingKeyRecord.objects.values_list("key_ref", flat=True))
    return sorted(wanted - held)


def fetch_missing_vending_keys(client: MasterClient) -> list[str]:
    """Ask the master for the vending keys this selling station lacks (none asked when it
    lacks none); keep those that open and pass their check values. The references kept."""
    station = LocalStation.objects.get(pk=1)
    if station.role != StationRole.STATION or not missing_key_refs():
        return []
    own = enrolment.new_exchange_key()
    own_hex = enrolment.exchange_public_hex(own)
    held = sorted(VendingKeyRecord.objects.values_list("key_ref", flat=True))[:MAX_HELD]
    answer = client.post(PATH, {"exchange_key": own_hex, "held": held})
    _check_statement(answer, station=station, own_exchange_key=own_hex)
    try:
        shared = enrolment.shared_secret(own, answer.get("exchange_key"))
        opened = station_init._unwrap(
            answer.get("vending_keys"),
            key=delivery_key(shared=shared, station_code=station.code),
            station_code=station.code,
        )
    except (enrolment.ExchangeKeyInvalid, StationEnrolFailed) as bad:
        raise LinkDown(f"the vending keys sent cannot be kept: {bad}") from None
    # All opened and checked before any is kept; each is kept by the keys app in its own
    # transaction (a key already kept under the same reference must be the same key).
    try:
        for item, secret in opened:
            station_init._keep_vending_key(item, secret)
    except StationEnrolFailed as bad:
        raise LinkDown(f"the vending keys sent cannot be kept: {bad}") from None
    if opened:
        with transaction.atomic():
            record(
                actor=None,
                event_type=StationEvent.VENDING_KEYS_RECEIVED,
                target=station,
                after={"key_refs": [item["key_ref"] for item, _secret in opened]},
            )
    return [item["key_ref"] for item, _secret in opened]


__all__ = [
    "deliver_vending_keys",
    "delivery_key",
    "fetch_missing_vending_keys",
    "missing_key_refs",
    "pass_up",
]
