"""This install as a station: its one ``LocalStation`` row (none on the master), its opened key
and the client to the master (or the relay above it)."""

from __future__ import annotations

import threading

from gridvend.keys import crypto
from gridvend.stations import protocol
from gridvend.stations.client import MasterClient
from gridvend.stations.models import LocalStation
from gridvend.stations.services.upstream_key import UpstreamKeys

_lock = threading.Lock()
_seeds: dict[str, bytes] = {}


def key_ref(code: str) -> str:
    """The key reference the station's private key is sealed under (associated data)."""
    return f"station:{code}"


def this_station() -> LocalStation | None:
    """This install's station identity, or None on the master."""
    return LocalStation.objects.filter(pk=1).first()


def is_station() -> bool:
    return LocalStation.objects.filter(pk=1).exists()


def station_key(station: LocalStation) -> protocol.KeyPair:
    """The station's Ed25519 key, opened with this install's master key (once per process)."""
    with _lock:
        seed = _seeds.get(station.public_key)
        if seed is None:
            sealed = crypto.Sealed(
                bytes(station.nonce),
                bytes(station.ciphertext),
                bytes(station.tag),
                station.master_key_id,
            )
            seed = crypto.unseal(sealed, key_ref=key_ref(station.code))
            _seeds[station.public_key] = seed
    pair = protocol.key_pair_from_seed(seed)
    if pair.public_hex != station.public_key:
        raise crypto.KeyDecryptionFailed("the station's key does not match its public key")
    return pair


def client(station: LocalStation | None = None) -> MasterClient:
    """The signed client to the master (or relay) this station was enrolled with."""
    station = station or this_station()
    if station is None:
        raise RuntimeError("this install is not a station (run `gridvend station init`)")
    return MasterClient(
        base_url=station.master_url,
        station=station.code,
        seed=station_key(station).seed,
        master_public_hex=station.upstream_public_key,
        upstream_keys=upstream_keys(station),
    )


def upstream_keys(station: LocalStation) -> UpstreamKeys | None:
    """How a new key of the relay above ``station`` may be vouched for by the master; none for
    an install that talks to the master itself (only a relay may be told a new key)."""
    return UpstreamKeys() if station.upstream_public_key != station.master_public_key else None
