"""An offline station's journal made away from a station's own database, as a station writes it
(docs/stations.md, Journal): signed entries chained one after another, and credit sales priced
by the master's real pricing (a trial vend's breakdown) whose tokens the real token engine makes
with the meter's key in the station's TID lane. The master's tests and the sync benchmark
(``benchmarks/sync_bench.py``) build the journals they upload with it; a station's own sales are
journalled by ``services.offline`` from the sales it wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from gridvend.kernel.pricing import Breakdown
from gridvend.kernel.tokens import MeterKeyRef, allocate_tids
from gridvend.keys.engine import SoftwareStsEngine
from gridvend.meters.models import Meter
from gridvend.meters.selectors import meter_key_ref
from gridvend.stations import protocol
from gridvend.stations.models import TID_LANES
from gridvend.vending.services import Quote
from gridvend.vending.services.offline import key_wire


@dataclass
class JournalMaker:
    """One station's chain (``seq``, ``prev``), what it sold so far (``sold_total``, the
    cumulative total each sale entry carries) and each meter's newest TID it issued."""

    seed: bytes
    station: str
    lane: int = 1
    engine: SoftwareStsEngine = field(default_factory=SoftwareStsEngine)
    seq: int = 0
    prev: str = protocol.GENESIS
    sold_total: int = 0
    last_tids: dict[str, int | None] = field(default_factory=dict)

    def entry(self, kind: str, data: dict[str, Any], *, at: datetime) -> dict[str, Any]:
        """The next signed entry of the chain, as the wire carries it."""
        self.seq += 1
        made = protocol.make_entry(
            seed=self.seed,
            station=self.station,
            seq=self.seq,
            kind=kind,
            occurred_at=at,
            prev=self.prev,
            data=data,
        )
        self.prev = made.entry_hash
        return made.wire()

    def sale_data(
        self,
        quote: Quote,
        meter: Meter,
        *,
        at: datetime,
        reference: str,
        client_reference: str,
        vending_point: str,
        operator: str,
        shift: int | None = None,
        allowance: int = 1,
        customer: str | None = None,
        key_ref: MeterKeyRef | None = None,
        tid: int | None = None,
        breakdown: Breakdown | None = None,
    ) -> dict[str, Any]:
        """A credit sale entry's ``data`` for ``quote`` (the sale's price), sold at ``at``:
        its tokens made with the meter's key (``key_ref``: another, the key the station still
        held) in the station's lane, above the newest TID it gave the meter (``tid``: from
        this TID instead, a clash made on purpose). ``customer``: the account the station
        sold to, when not the quote's. ``breakdown``: the price, when not the quote's (a station
        counts its own sales of the month the master has not applied)."""
        b = breakdown or quote.breakdown
        key = key_ref or meter_key_ref(meter)
        wanted = [("credit", b.kwh)] + ([("fbe", b.fbe_kwh)] if b.fbe_kwh > 0 else [])
        if tid is not None:
            tids = [tid + i * TID_LANES for i in range(len(wanted))]
        else:
            tids = allocate_tids(
                self.last_tids.get(meter.number, meter.last_tid),
                self.engine.tid_for(key, at),
                len(wanted),
                ken=key.ken,
                lanes=TID_LANES,
                lane=self.lane,
            )
        self.last_tids[meter.number] = tids[-1]
        tokens = []
        for index, ((kind, kwh), number) in enumerate(zip(wanted, tids, strict=True), start=1):
            issued = self.engine.issue_credit(key, kwh=kwh, tid=number)
            tokens.append(
                {
                    "sequence": index,
                    "kind": kind,
                    "digits": issued.digits,
                    "token_class": issued.token_class,
                    "subclass": issued.subclass,
                    "tid": issued.tid,
                    "tid_base_year": key.base_date_year,
                    "units": str(issued.units),
                    "description": issued.description,
                    "key_ref": key.key_ref,
                }
            )
        self.sold_total += b.tender.minor
        recorded = b.to_dict()
        recorded["debt_allocations"] = []
        return {
            "reference": reference,
            "client_reference": client_reference,
            "kind": "credit",
            "vending_point": vending_point,
            "operator": operator,
            "shift": shift,
            "meter": meter.number,
            "customer": customer or quote.customer.account_number,
            "tariff_version": quote.tariff_version.pk,
            "currency": b.currency,
            "tender_minor": b.tender.minor,
            "debt_recovered_minor": b.debt_recovered.minor,
            "fixed_charges_minor": b.fixed_charges_net.minor,
            "tax_minor": b.tax_total.minor,
            "energy_minor": b.energy_net.minor,
            "kwh": str(sum((Decimal(str(t["units"])) for t in tokens), Decimal(0))),
            "priced_kwh": str(b.priced_kwh),
            "fbe_kwh": str(b.fbe_kwh),
            "fixed_charges_paid_through": None
            if b.fixed_charges_paid_through is None
            else b.fixed_charges_paid_through.isoformat(),
            "breakdown": recorded,
            "payment_method": "cash",
            "payment_reference": None,
            "cash_received_minor": None,
            "debt_balance_after_minor": 0,
            "key": key_wire(key),
            "business_date": at.date().isoformat(),
            "created_at": protocol.utc_text(at),
            "allowance": allowance,
            "sold_total_minor": self.sold_total,
            "tokens": tokens,
        }


__all__ = ["JournalMaker"]
