"""An offline station's journal as a station would write it, for the master's tests: a Station
row registered on the master with its own Ed25519 key (registration itself is another part's),
its journal made by ``gridvend.stations.journal_maker`` (shared with the sync benchmark): sales
priced by the master's real pricing (a trial vend), tokens made by the real token engine with
the meter's key in the station's TID lane, each a signed, hash-chained entry."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import business_date
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import Breakdown, price_by_tender
from gridvend.kernel.tokens import MeterKeyRef
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.stations import protocol
from gridvend.stations.journal_maker import JournalMaker
from gridvend.stations.models import TID_LANES, Station, StationAllowance, StationStatus
from gridvend.tariffs.selectors import spec_of_version
from gridvend.vending import services as vending
from gridvend.vending.models import Sale
from gridvend.vending.services._sale import _context as sale_context
from tests import factories
from tests.world import World

_codes = itertools.count(1)


@dataclass
class OfflineStation:
    """A station's side for the master's tests: its journal made by the shared
    ``stations.journal_maker.JournalMaker`` (``maker``), each sale priced by a trial vend."""

    world: World
    station: Station
    key: protocol.KeyPair
    operator: User
    point: VendingPoint
    maker: JournalMaker
    allowance: int = 1
    shift: int | None = None
    # (customer id, business month) -> (reference, priced kWh, FBE kWh) of the sales made here.
    sold: dict[tuple[int, str], list[tuple[str, Decimal, Decimal]]] = field(default_factory=dict)
    _shift_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def code(self) -> str:
        return self.station.code

    @property
    def seq(self) -> int:
        return self.maker.seq

    @seq.setter
    def seq(self, value: int) -> None:
        self.maker.seq = value

    @property
    def prev(self) -> str:
        return self.maker.prev

    @prev.setter
    def prev(self, value: str) -> None:
        self.maker.prev = value

    @property
    def sold_total(self) -> int:
        return self.maker.sold_total

    @sold_total.setter
    def sold_total(self, value: int) -> None:
        self.maker.sold_total = value

    def entry(self, kind: str, data: dict[str, Any], *, at: datetime | None = None) -> dict:
        """The next signed entry of the chain, as the wire carries it (naming the station by
        its code now: a test may make it name another)."""
        self.maker.station = self.code
        return self.maker.entry(kind, data, at=at or timezone.now())

    def open_shift(self, *, float_minor: int = 0, at: datetime | None = None) -> dict:
        self.shift = next(self._shift_ids)
        moment = at or timezone.now()
        return self.entry(
            "shift_opened",
            {
                "shift": self.shift,
                "operator": self.operator.username,
                "opened_at": protocol.utc_text(moment),
                "opening_float_minor": float_minor,
                "currency": self.world.tariff.currency,
            },
            at=moment,
        )

    def close_shift(self, *, cash_minor: int, at: datetime | None = None) -> dict:
        moment = at or timezone.now()
        shift, self.shift = self.shift, None
        return self.entry(
            "shift_closed",
            {
                "shift": shift,
                "closed_at": protocol.utc_text(moment),
                "expected": {"cash": cash_minor},
                "counted": {"cash": cash_minor},
                "over_short_minor": 0,
                "close_note": "",
            },
            at=moment,
        )

    def sale_data(
        self,
        meter: Meter,
        major: str,
        *,
        at: datetime | None = None,
        key_ref: MeterKeyRef | None = None,
        tid: int | None = None,
    ) -> dict[str, Any]:
        """A credit sale of ``major`` as the station would record it: priced by the real
        pricing, its tokens made by the real engine in the station's lane."""
        quote = vending.trial_vend(
            actor=self.world.cashier, meter_number=meter.number, tender=self.world.money(major)
        )
        moment = at or timezone.now()
        customer = self.world.customer(meter)
        day = business_date(moment, settings.TIME_ZONE)
        month = f"{day.year:04d}-{day.month:02d}"
        b = self._with_own_sales(quote, customer, month, quote.breakdown)
        reference = "T" + secrets.token_hex(6).upper()
        self.sold.setdefault((customer.pk, month), []).append((reference, b.priced_kwh, b.fbe_kwh))
        return self.maker.sale_data(
            quote,
            meter,
            at=moment,
            reference=reference,
            client_reference=secrets.token_hex(8),
            vending_point=self.point.code,
            operator=self.operator.username,
            shift=self.shift,
            allowance=self.allowance,
            customer=customer.account_number,
            key_ref=key_ref,
            tid=tid,
            breakdown=b,
        )

    def _with_own_sales(
        self, quote: Any, customer: Any, month: str, priced: Breakdown
    ) -> Breakdown:
        """As a station prices: the month's totals count its own sales the master has not
        applied yet (the trial vend on the master sees only those it holds)."""
        mine = self.sold.get((customer.pk, month), [])
        if not mine:
            return priced
        applied = set(
            Sale.objects.filter(
                vending_point=self.point, client_reference__in=[r for r, _, _ in mine]
            ).values_list("client_reference", flat=True)
        )
        own = [(kwh, fbe) for reference, kwh, fbe in mine if reference not in applied]
        if not own:
            return priced
        version = quote.tariff_version
        _, spec = spec_of_version(version.pk, str(version.approved_at))
        ctx, _ = sale_context(
            customer, spec, business_date(timezone.now(), settings.TIME_ZONE), lock_debts=False
        )
        ctx = replace(
            ctx,
            month_to_date_kwh=ctx.month_to_date_kwh + sum(k for k, _ in own),
            fbe_issued_this_month=ctx.fbe_issued_this_month or any(f > 0 for _, f in own),
        )
        return price_by_tender(spec, priced.tender, ctx)

    def sell(self, meter: Meter, major: str, **kwargs: Any) -> dict:
        at = kwargs.get("at") or timezone.now()
        kwargs["at"] = at
        return self.entry("sale", self.sale_data(meter, major, **kwargs), at=at)


def batch(entries: list[dict], batch_id: str | None = None) -> dict[str, Any]:
    return {"batch_id": batch_id or secrets.token_hex(8), "entries": entries}


def offline_station(
    world: World,
    *,
    unit: OrgUnit | None = None,
    lane: int = 1,
    ceiling_minor: int = 10**12,
    status: str = StationStatus.ACTIVE,
) -> OfflineStation:
    """A station registered and enrolled on the master for ``unit`` (the world's by default),
    with its own vending point, a cashier of the unit and an allowance."""
    unit = unit or world.unit
    OrgUnit.objects.filter(pk=unit.pk).update(tid_lanes=TID_LANES)
    unit.refresh_from_db()
    for meter in Meter.objects.filter(org_unit=unit):
        meter.org_unit.tid_lanes = TID_LANES
    n = next(_codes)
    point = org.create_vending_point(
        actor=world.admin, org_unit=unit, name=f"Station point {n}", channel="pay_office"
    )
    operator = factories.user(unit, Role.OPERATOR, (Capability.CASHIER,))
    key = protocol.new_key_pair()
    now = timezone.now()
    station = Station.objects.create(
        code=f"st-{n}-{secrets.token_hex(2)}",
        name=f"Station {n}",
        org_unit=unit,
        vending_point=point,
        tid_lane=lane,
        status=status,
        public_key=key.public_hex,
        enrolled_at=now,
        created_by=world.admin,
    )
    StationAllowance.objects.create(
        station=station,
        sequence=1,
        ceiling_minor=ceiling_minor,
        currency=world.tariff.currency,
        valid_from=now - timedelta(days=30),
        valid_until=now + timedelta(days=30),
        payload="{}",
        signature="0" * 128,
        issued_by=world.admin,
    )
    maker = JournalMaker(seed=key.seed, station=station.code, lane=lane or 1)
    return OfflineStation(world, station, key, operator, point, maker)


def money(world: World, major: str) -> Money:
    return world.money(major)
