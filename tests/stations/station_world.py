"""A test database set up as an offline station: the shared world's unit split into TID lanes,
this install's ``LocalStation`` row with a real sealed Ed25519 key, and an allowance signed by a
test master key and accepted through the real service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from gridvend.keys import crypto
from gridvend.org.models import OrgUnit
from gridvend.stations import protocol
from gridvend.stations.local import key_ref
from gridvend.stations.models import TID_LANES, LocalAllowance, LocalStation
from gridvend.stations.services import offline
from gridvend.stations.services.local_allowances import accept_allowance
from tests.world import World

CODE = "kitale-st1"


@dataclass
class StationSetUp:
    station: LocalStation
    key: protocol.KeyPair
    master: protocol.KeyPair

    def allowance(
        self,
        *,
        sequence: int,
        ceiling_minor: int,
        valid_from: datetime,
        valid_until: datetime,
        currency: str = "KES",
        code: str = CODE,
    ) -> dict[str, str]:
        made = protocol.make_allowance(
            seed=self.master.seed,
            station=code,
            sequence=sequence,
            ceiling_minor=ceiling_minor,
            currency=currency,
            valid_from=valid_from,
            valid_until=valid_until,
            issued_at=valid_from,
        )
        return {"payload": made.payload, "signature": made.signature}

    def give_allowance(
        self, *, sequence: int, ceiling_minor: int, around: datetime, currency: str = "KES"
    ) -> LocalAllowance:
        return accept_allowance(
            self.station,
            self.allowance(
                sequence=sequence,
                ceiling_minor=ceiling_minor,
                valid_from=around - timedelta(hours=1),
                valid_until=around + timedelta(days=2),
                currency=currency,
            ),
        )


def split_into_lanes(unit: OrgUnit) -> None:
    """What registering a station does on the master (and down-sync copies): its unit's
    subtree sells in TID lanes."""
    OrgUnit.objects.filter(path__startswith=unit.path).update(tid_lanes=TID_LANES)


def make_station(
    *, lane: int = 1, master_url: str = "http://127.0.0.1:9/", code: str = CODE
) -> StationSetUp:
    key = protocol.new_key_pair()
    master = protocol.new_key_pair()
    sealed = crypto.seal(key.seed, key_ref=key_ref(code))
    station = LocalStation.objects.create(
        pk=1,
        code=code,
        master_url=master_url,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        tag=sealed.tag,
        master_key_id=sealed.master_id,
        public_key=key.public_hex,
        master_public_key=master.public_hex,
        upstream_public_key=master.public_hex,
        org_unit_id_on_master=1,
        tid_lane=lane,
    )
    offline.forget()
    return StationSetUp(station=station, key=key, master=master)


@contextmanager
def station_mode_forgotten() -> Iterator[None]:
    """Each test starts and ends without a station mode kept from another test's database."""
    offline.forget()
    try:
        yield
    finally:
        offline.forget()


def station_world(world: World, *, lane: int = 1) -> StationSetUp:
    split_into_lanes(world.unit)
    return make_station(lane=lane)
