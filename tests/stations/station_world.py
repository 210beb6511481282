"""A test database set up as an offline station: the shared world's unit split into TID lanes,
this install's ``LocalStation`` row with a real sealed Ed25519 key, and an allowance signed by a
test master key and accepted through the real service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from gridvend.kernel.clock import FixedClock
from gridvend.keys import crypto
from gridvend.meters.models import Meter
from gridvend.org.models import OrgUnit
from gridvend.stations import protocol
from gridvend.stations.local import key_ref
from gridvend.stations.models import TID_LANES, LocalAllowance, LocalStation
from gridvend.stations.services import offline
from gridvend.stations.services.local_allowances import accept_allowance
from gridvend.vending import services as vending
from gridvend.vending.services import SaleResult
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


def journal_shift_opened(occurred_at: datetime | None = None, *, shift: int = 0) -> None:
    """One ``shift_opened`` entry in this station's journal, at ``occurred_at`` (now when not
    given) as the station's clock says: how a test dates the journal ahead of or behind the
    clock, or fills it for an upload."""
    with transaction.atomic():
        station = LocalStation.objects.select_for_update().get(pk=1)
        offline.append_entry(
            station,
            kind="shift_opened",
            occurred_at=occurred_at or timezone.now(),
            data={"shift": shift, "operator": "cashier", "opened_at": "", "currency": "KES"},
        )


def journal_shifts(count: int) -> None:
    """``count`` entries in this station's journal, now."""
    for i in range(count):
        journal_shift_opened(shift=i)


def sell_at(world: World, meter: Meter, at: datetime, ref: str) -> SaleResult:
    """A 300.00 sale by the world's cashier at its point, the station's clock reading ``at``."""
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=ref,
        meter_number=meter.number,
        tender=world.money("300.00"),
        clock=FixedClock(at),
    )


def signed_headers(
    seed: bytes, code: str, path: str, body: bytes, method: str = "POST"
) -> dict[str, str]:
    """The headers of a request signed by station ``code``'s key (docs/stations.md, "Request
    signature"), now and with a fresh nonce."""
    stamp, nonce = protocol.utc_text(timezone.now()), protocol.new_nonce()
    return {
        protocol.HEADER_STATION: code,
        protocol.HEADER_TIME: stamp,
        protocol.HEADER_NONCE: nonce,
        protocol.HEADER_SIGNATURE: protocol.sign(
            seed, protocol.request_message(method, path, stamp, nonce, body)
        ),
    }
