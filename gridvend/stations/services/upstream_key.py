"""A station's trust in the key of the relay above it (docs/stations.md, "Relay key
statement"). A relay enrolled again after its disk was lost signs with a new key; the master
vouches for it with a signed statement (``protocol.RelayKey``) the relay sends with every
answer (header ``X-Relay-Key``). A station takes the new key only from a statement signed by
the master, for the very relay it sits under, with a newer sequence than the one it knows; the
change is audited. Anything else is refused and logged, and the answer counts as a link that is
down (``client.LinkDown``), as before.

A statement for the key the station already trusts teaches it the relay's code and sequence
(stations enrolled before statements existed learn them at their next contact)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from gridvend.audit.services import record
from gridvend.stations import protocol
from gridvend.stations.client import LinkDown
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalStation

logger = logging.getLogger("gridvend.stations")


def _read(header: str, station: LocalStation) -> protocol.RelayKey:
    try:
        return protocol.read_relay_key(
            protocol.relay_key_from_header(header), master_public_hex=station.master_public_key
        )
    except protocol.BadSignature as bad:
        raise ValueError(f"the relay key statement is not signed by the master: {bad}") from None
    except (ValueError, KeyError) as bad:
        raise ValueError(f"the relay key statement cannot be read: {bad}") from None


@dataclass
class UpstreamKeys:
    """What the client asks when its upstream's answer is signed with a key it does not trust,
    or comes with a statement of the key it trusts."""

    def vouched(self, header: str) -> protocol.RelayKey:
        """The new key the master vouches for in ``header``; raises ``LinkDown`` (logged) for a
        statement that is forged, another relay's, or not newer than the one known."""
        station = LocalStation.objects.get(pk=1)
        try:
            statement = _read(header, station)
            if not station.upstream_code:
                raise ValueError("this station does not know the code of the relay above it")
            if statement.relay != station.upstream_code:
                raise ValueError(
                    f"the statement is for relay {statement.relay[:40]!r}, "
                    f"not {station.upstream_code!r}"
                )
            if statement.sequence <= station.upstream_key_sequence:
                raise ValueError(
                    f"the statement's sequence {statement.sequence} is not newer than "
                    f"{station.upstream_key_sequence}"
                )
        except ValueError as refused:
            logger.error("station %s: the upstream's new key is refused: %s", station.code, refused)
            raise LinkDown(f"the upstream's new key is refused: {refused}") from None
        return statement

    def adopt(self, statement: protocol.RelayKey) -> None:
        """Trust ``statement``'s key from now on (its answer verified under it), audited."""
        with transaction.atomic():
            station = LocalStation.objects.select_for_update().get(pk=1)
            before = {
                "upstream_public_key": station.upstream_public_key,
                "upstream_key_sequence": station.upstream_key_sequence,
            }
            station.upstream_public_key = statement.public_key
            station.upstream_key_sequence = statement.sequence
            station.save(update_fields=["upstream_public_key", "upstream_key_sequence"])
            record(
                actor=None,
                event_type=StationEvent.UPSTREAM_KEY_CHANGED,
                target=station,
                before=before,
                after={
                    "relay": statement.relay,
                    "upstream_public_key": statement.public_key,
                    "upstream_key_sequence": statement.sequence,
                    "valid_from": protocol.utc_text(statement.valid_from),
                },
            )
        logger.warning(
            "station %s: relay %s enrolled again; its new key %s... is trusted (statement %d)",
            station.code,
            statement.relay,
            statement.public_key[:16],
            statement.sequence,
        )

    def learn(self, header: str, trusted_key: str) -> None:
        """A statement of the key already trusted: note the relay's code and sequence when this
        station does not hold them yet (enrolled before statements). Never changes the key."""
        station = LocalStation.objects.get(pk=1)
        try:
            statement = _read(header, station)
        except ValueError as bad:
            logger.warning("station %s: %s", station.code, bad)
            return
        if statement.public_key != trusted_key or statement.public_key != (
            station.upstream_public_key
        ):
            return
        if station.upstream_code and statement.relay != station.upstream_code:
            return
        if statement.sequence <= station.upstream_key_sequence and station.upstream_code:
            return
        LocalStation.objects.filter(pk=1).update(
            upstream_code=statement.relay,
            upstream_key_sequence=max(statement.sequence, station.upstream_key_sequence),
        )
