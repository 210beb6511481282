"""This install's own station-protocol key: on the master (and on a relay, towards the stations
under it) the Ed25519 key that signs allowances and answers. Made on first use, sealed under the
master key (``keys.crypto``) like the vending keys, and opened once per process."""

from __future__ import annotations

import threading

from django.db import transaction

from gridvend.keys import crypto
from gridvend.stations import protocol
from gridvend.stations.local import station_key
from gridvend.stations.models import LocalStation, StationRole, StationSigningKey

KEY_REF = "station-signing"

_lock = threading.Lock()
_cached: list[protocol.KeyPair] = []


def signing_key() -> protocol.KeyPair:
    """The active signing key (made, sealed and stored the first time it is asked for). On a
    business-unit relay it is the relay's own station key: the master knows its public half
    (``Station.public_key``) and can vouch for it to the stations below the relay, and a signed
    answer (``NONCE\nSHA256``) is never the form of a signed request."""
    relay = LocalStation.objects.filter(pk=1, role=StationRole.RELAY).first()
    if relay is not None:
        return station_key(relay)
    with _lock:
        if _cached:
            return _cached[0]
        row = StationSigningKey.objects.filter(is_active=True).first()
        if row is None:
            with transaction.atomic():
                pair = protocol.new_key_pair()
                sealed = crypto.seal(pair.seed, key_ref=KEY_REF)
                StationSigningKey.objects.create(
                    public_key=pair.public_hex,
                    nonce=sealed.nonce,
                    ciphertext=sealed.ciphertext,
                    tag=sealed.tag,
                    master_key_id=sealed.master_id,
                )
        else:
            sealed = crypto.Sealed(
                bytes(row.nonce), bytes(row.ciphertext), bytes(row.tag), row.master_key_id
            )
            pair = protocol.key_pair_from_seed(crypto.unseal(sealed, key_ref=KEY_REF))
            if pair.public_hex != row.public_key:
                raise crypto.KeyDecryptionFailed("the station signing key does not match its row")
        _cached.append(pair)
        return pair


def forget() -> None:
    """Drop the opened key (tests that change the database under the process)."""
    with _lock:
        _cached.clear()
