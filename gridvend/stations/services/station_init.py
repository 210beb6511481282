"""Station side of the enrolment (`gridvend station init`): make this install's Ed25519 key pair,
enrol it on the master with the one-time code (and an ephemeral X25519 key the vending keys are
wrapped for), check that the answer came from someone who knew
the code (``X-Enrol-Proof``) and is signed by the key it names, then keep the station's identity
with its key sealed at rest, the vending keys sealed under this install's master key (the keys
app's own service) and the first allowance.

Everything the answer carries is checked before anything is written here. The master marks the
code used when it answers: should this install fail after that (a disk full, a power cut), the
master's operator revokes the station and registers it again."""

from __future__ import annotations

import hmac
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from Crypto.Cipher import AES
from django.db import transaction

from gridvend.audit.services import record
from gridvend.keys import crypto
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import KEY_LENGTHS, sealed_of, store_key_secret
from gridvend.stations import local, protocol
from gridvend.stations.errors import StationEnrolFailed
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalStation, StationRole, StationStatus
from gridvend.stations.services import enrolment
from gridvend.stations.services.local_allowances import AllowanceRefused, accept_allowance

TIMEOUT_SECONDS = 60.0
MAX_ANSWER_BYTES = 4 * 1024 * 1024
MAX_VENDING_KEYS = 1000
_KEY_REF = re.compile(r"[\x21-\x7e]{1,60}")


def _post(url: str, body: bytes, nonce: str) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json", protocol.HEADER_NONCE: nonce}
    try:
        reply = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, stream=True)
        raw = reply.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
    except requests.RequestException as failed:
        raise StationEnrolFailed(problem=f"the master could not be reached ({failed})") from None
    if len(raw) > MAX_ANSWER_BYTES:
        raise StationEnrolFailed(problem="the master's answer is too large")
    return reply.status_code, raw, dict(reply.headers)


def _refusal(status: int, raw: bytes) -> StationEnrolFailed:
    try:
        error = protocol.loads(raw.decode("utf-8")).get("error", {})
        return StationEnrolFailed(
            problem=f"{str(error.get('code'))[:60]}: {str(error.get('message'))[:200]}"
        )
    except (UnicodeDecodeError, ValueError, AttributeError):
        return StationEnrolFailed(problem=f"the master answered {status}")


def _unwrap(wire: object, *, key: bytes, station_code: str) -> list[tuple[dict[str, str], bytes]]:
    """The vending keys of the answer, decrypted under ``key`` and checked against their check
    values."""
    if not isinstance(wire, list) or len(wire) > MAX_VENDING_KEYS:
        raise StationEnrolFailed(problem="the vending keys are not a list")
    opened = []
    for item in wire:
        try:
            key_ref, dkga = item["key_ref"], item["dkga"]
            if not _KEY_REF.fullmatch(key_ref) or dkga not in KEY_LENGTHS:
                raise ValueError(key_ref)
            cipher = AES.new(key, AES.MODE_GCM, nonce=bytes.fromhex(item["nonce"]))
            cipher.update(enrolment.vending_key_aad(station_code, key_ref))
            secret = cipher.decrypt_and_verify(
                bytes.fromhex(item["ciphertext"]), bytes.fromhex(item["tag"])
            )
        except (KeyError, TypeError, ValueError):
            raise StationEnrolFailed(problem="a vending key does not open") from None
        if len(secret) != KEY_LENGTHS[dkga] or (
            item.get("check_value") and crypto.check_value(secret) != item["check_value"]
        ):
            raise StationEnrolFailed(problem=f"vending key {key_ref} fails its check value")
        opened.append((item, secret))
    return opened


def _read_answer(
    status: int, raw: bytes, headers: dict[str, str], *, nonce: str, station_code: str, code: str
) -> dict[str, Any]:
    if status >= 400:
        raise _refusal(status, raw)
    proof = headers.get(enrolment.HEADER_PROOF, "")
    expected = enrolment.answer_proof(enrol_code=code, station_code=station_code, body=raw)
    if not hmac.compare_digest(proof, expected):
        raise StationEnrolFailed(problem="the answer does not prove it knew the enrolment code")
    try:
        data = protocol.loads(raw.decode("utf-8"))
        master_public = data["master_public_key"]
        if not protocol.HEX64.fullmatch(master_public):
            raise ValueError("the master's key is not 32 bytes of hex")
        if not protocol.HEX64.fullmatch(data["upstream_public_key"]):
            raise ValueError("the upstream key is not 32 bytes of hex")
        # The master answers the enrolment itself, even for a station behind a relay (which
        # is only told the relay's key, to check the relay's answers later).
        protocol.verify(
            master_public,
            protocol.answer_message(nonce, raw),
            headers.get(protocol.HEADER_MASTER_SIGNATURE, ""),
        )
        facts = data["station"]
        if facts["code"] != station_code or facts["role"] not in StationRole.values:
            raise ValueError("the answer names another station")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, protocol.BadSignature) as bad:
        raise StationEnrolFailed(problem=f"the answer cannot be read ({bad})") from None
    return dict(data)


def _http_url(url: str, whose: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 255:
        raise StationEnrolFailed(problem=f"the {whose} address is not an http(s) URL")


def init_station(
    *,
    master_url: str,
    station_code: str,
    enrol_code: str,
    app_version: str,
    via_url: str = "",
) -> LocalStation:
    """Turn this install into the station ``station_code`` of the master at ``master_url``.
    A station registered under a business-unit relay enrols with the master all the same, and
    is then bound to the relay: ``via_url`` is the relay's address, which it talks to from now on
    (its ``master_url``); the master's answer names the relay's key (``upstream_public_key``)."""
    if local.is_station():
        raise StationEnrolFailed(problem="this install already is a station")
    _http_url(master_url, "master's")
    if via_url:
        _http_url(via_url, "relay's")
    station_code = station_code.strip().lower()
    enrol_code = enrol_code.strip().upper().replace(" ", "").replace("-", "")
    if not (0 < len(station_code) <= 40 and 0 < len(enrol_code) <= 64):
        raise StationEnrolFailed(problem="the station code or enrolment code is missing")
    pair = protocol.new_key_pair()
    exchange = enrolment.new_exchange_key()
    nonce = protocol.new_nonce()
    body = protocol.canonical(
        {
            "station": station_code,
            "code": enrol_code,
            "public_key": pair.public_hex,
            "app_version": app_version[:40],
            "exchange_key": enrolment.exchange_public_hex(exchange),
            # The master refuses a --via that is not as registered before it uses the code.
            "under_relay": bool(via_url),
        }
    ).encode("utf-8")
    url = master_url.rstrip("/") + "/station-api/v1/enrol"
    status, raw, headers = _post(url, body, nonce)
    data = _read_answer(
        status, raw, headers, nonce=nonce, station_code=station_code, code=enrol_code
    )
    facts = data["station"]
    # A station under a relay is answered the relay's key as the one its upstream signs with.
    under_relay = data["upstream_public_key"] != data["master_public_key"]
    # The master checked --via before using the code; an answer that disagrees is not its.
    if under_relay != bool(via_url):
        raise StationEnrolFailed(problem="the answer does not match --via")
    try:
        shared = enrolment.shared_secret(exchange, data.get("exchange_key"))
    except enrolment.ExchangeKeyInvalid as bad:
        raise StationEnrolFailed(problem=f"the answer cannot be read ({bad})") from None
    keys = _unwrap(
        data.get("vending_keys"),
        key=enrolment.wrap_key(shared=shared, enrol_code=enrol_code, station_code=station_code),
        station_code=station_code,
    )
    wire_allowance = data.get("allowance")
    if wire_allowance is not None:
        try:
            protocol.read_allowance(
                wire_allowance, master_public_hex=data["master_public_key"], station=station_code
            )
        except (protocol.BadSignature, ValueError, KeyError) as bad:
            raise StationEnrolFailed(problem=f"the allowance is not valid ({bad})") from None
    own_statement, upstream_statement = _statements(
        data, station_code=station_code, role=facts["role"], public_key=pair.public_hex
    )
    for item, secret in keys:
        _keep_vending_key(item, secret)
    sealed = crypto.seal(pair.seed, key_ref=local.key_ref(station_code))
    with transaction.atomic(durable=True):
        station = LocalStation.objects.create(
            pk=1,
            code=station_code,
            role=facts["role"],
            master_url=via_url or master_url,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            tag=sealed.tag,
            master_key_id=sealed.master_id,
            public_key=pair.public_hex,
            master_public_key=data["master_public_key"],
            upstream_public_key=data["upstream_public_key"],
            upstream_code=upstream_statement.relay if upstream_statement else "",
            upstream_key_sequence=upstream_statement.sequence if upstream_statement else 0,
            key_statement=protocol.canonical(own_statement.wire()) if own_statement else "",
            org_unit_id_on_master=int(facts["org_unit_id"]),
            vending_point_id_on_master=facts.get("vending_point_id"),
            tid_lane=facts.get("tid_lane"),
            status=StationStatus.ACTIVE,
        )
        record(
            actor=None,
            event_type=StationEvent.INITIALISED,
            target=station,
            after={
                "code": station.code,
                "role": station.role,
                "master_url": station.master_url,
                "enrolled_with": master_url,
                "public_key": station.public_key,
                "tid_lane": station.tid_lane,
                "vending_keys": [item["key_ref"] for item, _secret in keys],
            },
        )
    if wire_allowance is not None:
        try:
            accept_allowance(station, wire_allowance)
        except AllowanceRefused as refused:
            raise StationEnrolFailed(problem=f"the allowance was refused ({refused})") from None
    return station


def _statements(
    data: dict[str, Any], *, station_code: str, role: str, public_key: str
) -> tuple[protocol.RelayKey | None, protocol.RelayKey | None]:
    """The master's relay key statements of the answer, checked: a relay's own (for this
    station and the key it enrols), and the relay above's (for the key the answer names)."""
    master = data["master_public_key"]
    own = upstream = None
    try:
        if role == StationRole.RELAY:
            own = protocol.read_relay_key(data.get("key_statement"), master_public_hex=master)
            if own.relay != station_code or own.public_key != public_key:
                raise ValueError("the relay key statement is not this relay's")
        if data["upstream_public_key"] != master:
            upstream = protocol.read_relay_key(
                data.get("upstream_key_statement"), master_public_hex=master
            )
            if upstream.public_key != data["upstream_public_key"]:
                raise ValueError("the relay key statement is not the upstream's key")
    except (protocol.BadSignature, ValueError, KeyError) as bad:
        raise StationEnrolFailed(problem=f"the relay key statement is not valid ({bad})") from None
    return own, upstream


def _keep_vending_key(item: dict[str, str], secret: bytes) -> None:
    """Seal and keep a vending key through the keys app; a key already kept under the same
    reference must be the same key."""
    existing = VendingKeyRecord.objects.filter(key_ref=item["key_ref"]).first()
    if existing is not None:
        kept = crypto.unseal(sealed_of(existing), key_ref=existing.key_ref)
        if not hmac.compare_digest(kept, secret):
            raise StationEnrolFailed(problem=f"another key is already kept under {item['key_ref']}")
        return
    store_key_secret(
        actor=None,
        key_ref=item["key_ref"],
        secret=secret,
        dkga=item["dkga"],
        sta_tables="sample" if item.get("sta_tables") == "sample" else "real",
        description=str(item.get("description", ""))[:200],
    )
