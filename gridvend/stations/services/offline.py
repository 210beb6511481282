"""Selling offline on a station (docs/stations.md, Selling offline): the TID lane it sells in,
and the sale and shift hooks that check the signed allowance and append each operation to the
station's signed, hash-chained journal inside the operation's own transaction.

The hooks are declared for every install (``StationsConfig.ready``) and find out at call time
whether this install is a station: the ``LocalStation`` table may not exist yet at import, and
an install becomes a station only at ``gridvend station init``. The answer is kept per process
(a sale on the master costs no statement for it); ``forget`` drops it (init and tests).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from gridvend.kernel.money import Money
from gridvend.meters.selectors import meter_key_ref
from gridvend.stations import protocol
from gridvend.stations.errors import (
    StationAllowanceExhausted,
    StationAllowanceExpired,
    StationClockBehindJournal,
    StationNoAllowance,
    StationNotActive,
    StationNoTidLane,
    StationOnlineOnly,
)
from gridvend.stations.local import station_key
from gridvend.stations.models import (
    LocalAllowance,
    LocalEntry,
    LocalStation,
    StationEntry,
    StationStatus,
)
from gridvend.vending.models import Sale, SaleKind, Shift, Token, TokenKind
from gridvend.vending.services.offline import key_wire

SALE_HOOK = "stations.journal"
# How far a sale's time may fall behind the journal's newest entry (a clock nudged back by a
# time sync) before it is taken for a clock set back. The allowance's validity is judged at the
# later of the two in any case, so the slack never lets a station sell past its expiry.
CLOCK_SLACK = timedelta(minutes=2)


@dataclass(frozen=True)
class _Mode:
    code: str
    tid_lane: int | None


_lock = threading.Lock()
# None: not looked yet; False: this install is no station; a _Mode: this station.
_mode: list[_Mode | bool | None] = [None]


def forget() -> None:
    """Look again at the next call whether this install is a station (after `station init`)."""
    with _lock:
        _mode[0] = None


def _station_mode() -> _Mode | None:
    with _lock:
        known = _mode[0]
        if known is None:
            row = LocalStation.objects.filter(pk=1).values_list("code", "tid_lane").first()
            known = _Mode(row[0], row[1]) if row is not None else False
            _mode[0] = known
    return known if isinstance(known, _Mode) else None


def tid_lane() -> int:
    """The TID lane this install sells in: the station's own; 0 (the master's) elsewhere."""
    mode = _station_mode()
    if mode is None:
        return 0
    if mode.tid_lane is None:
        # A station without a lane (a relay) sells nothing: no lane of the master's either.
        raise StationOnlineOnly(operation="sale")
    return mode.tid_lane


def refuse_online_only(operation: str) -> None:
    """The online guard: on a station, everything but a credit sale needs the master."""
    if _station_mode() is not None:
        raise StationOnlineOnly(operation=operation)


def _locked_station() -> LocalStation | None:
    """This station's row, locked until the operation's transaction ends (the journal's and the
    allowance's one writer at a time), or None on the master."""
    if _station_mode() is None:
        return None
    station = LocalStation.objects.select_for_update().filter(pk=1).first()
    if station is None:
        forget()  # the station row is gone: the install is no station any more
    return station


def append_entry(
    station: LocalStation,
    *,
    kind: str,
    occurred_at: Any,
    data: dict[str, Any],
    sale: Sale | None = None,
) -> LocalEntry:
    """Append one signed entry after the last (the station's row is locked by the caller)."""
    last = LocalEntry.objects.order_by("-seq").values_list("seq", "entry_hash").first()
    seq, prev = (last[0] + 1, last[1]) if last is not None else (1, protocol.GENESIS)
    signed = protocol.make_entry(
        seed=station_key(station).seed,
        station=station.code,
        seq=seq,
        kind=kind,
        occurred_at=occurred_at,
        prev=prev,
        data=data,
    )
    return LocalEntry.objects.create(
        seq=signed.seq,
        kind=signed.kind,
        occurred_at=occurred_at,
        body=signed.body,
        entry_hash=signed.entry_hash,
        signature=signed.signature,
        sale=sale,
    )


def _check_allowance(station: LocalStation, sale: Sale) -> LocalAllowance:
    # The station's clock is its own: one set back below what the journal already holds would
    # sell again under an allowance that has expired. Time only moves forward here: the sale is
    # judged at the later of its clock and the journal's newest entry since the newest
    # allowance arrived, and a clock clearly behind that entry sells nothing. Entries from
    # before a fresh allowance do not count: the master signed its validity on its own clock,
    # so a journal dated ahead by a clock that was wrong stops nothing once the clock is right
    # and the master has spoken again.
    top = LocalAllowance.objects.order_by("-sequence").first()
    entries = LocalEntry.objects.order_by("-seq")
    if top is not None and top.journal_seq is not None:
        entries = entries.filter(seq__gt=top.journal_seq)
    last = entries.values_list("occurred_at", flat=True).first()
    if last is not None and sale.created_at < last - CLOCK_SLACK:
        raise StationClockBehindJournal(
            clock=protocol.utc_text(sale.created_at), last_entry=protocol.utc_text(last)
        )
    at = max(sale.created_at, last) if last is not None else sale.created_at
    if top is None or top.currency != sale.currency or sale.created_at < top.valid_from:
        raise StationNoAllowance(currency=sale.currency)
    if at >= top.valid_until:
        raise StationAllowanceExpired(valid_until=protocol.utc_text(top.valid_until))
    room = top.ceiling_minor - station.sold_total_minor
    if sale.tender_minor > room:
        left = Money(max(room, 0), sale.currency)
        raise StationAllowanceExhausted(
            room=str(left), room_minor=left.minor, currency=sale.currency
        )
    return top


def _decimal(value: Any, places: int) -> str:
    return f"{Decimal(value):.{places}f}"


def sale_data(
    sale: Sale, tokens: list[Token], *, allowance: int, sold_total_minor: int
) -> dict[str, Any]:
    """A sale entry's ``data`` exactly as docs/stations.md (Journal) lays it out."""
    return {
        "reference": sale.reference,
        "client_reference": sale.client_reference,
        "kind": sale.kind,
        "vending_point": sale.vending_point.code if sale.vending_point is not None else None,
        "operator": sale.operator.username if sale.operator is not None else None,
        "shift": sale.shift_id,
        "meter": sale.meter.number,
        "customer": sale.customer.account_number if sale.customer is not None else None,
        "tariff_version": sale.tariff_version_id,
        "currency": sale.currency,
        "tender_minor": sale.tender_minor,
        "debt_recovered_minor": sale.debt_recovered_minor,
        "fixed_charges_minor": sale.fixed_charges_minor,
        "tax_minor": sale.tax_minor,
        "energy_minor": sale.energy_minor,
        "kwh": _decimal(sale.kwh, 3),
        "priced_kwh": _decimal(sale.priced_kwh, 6),
        "fbe_kwh": _decimal(sale.fbe_kwh, 1),
        "fixed_charges_paid_through": sale.fixed_charges_paid_through.isoformat()
        if sale.fixed_charges_paid_through is not None
        else None,
        "breakdown": sale.breakdown,
        "payment_method": sale.payment_method,
        "payment_reference": sale.payment_reference,
        "cash_received_minor": sale.cash_received_minor,
        "debt_balance_after_minor": sale.debt_balance_after_minor,
        # The full key it was sold under: the master decodes the tokens under it (if the meter
        # had it) even after a key change on the master since.
        "key": key_wire(meter_key_ref(sale.meter)),
        "business_date": sale.business_date.isoformat(),
        "created_at": protocol.utc_text(sale.created_at),
        "allowance": allowance,
        "sold_total_minor": sold_total_minor,
        "tokens": [
            {
                "sequence": t.sequence,
                "kind": t.kind,
                "digits": t.digits,
                "token_class": t.token_class,
                "subclass": t.subclass,
                "tid": t.tid,
                "tid_base_year": t.tid_base_year,
                "units": _decimal(t.units, 1) if t.units is not None else None,
                "description": t.description,
                "key_ref": t.key_ref,
            }
            for t in tokens
        ],
    }


def journal_sale(sale: Sale, tokens: list[Token]) -> None:
    """The sale hook: on a station, a credit sale within the allowance, in the station's lane,
    is journalled; anything else is refused (and, raised here, leaves nothing of the sale)."""
    station = _locked_station()
    if station is None:
        return
    if sale.kind != SaleKind.CREDIT:
        raise StationOnlineOnly(operation=sale.kind)
    if any(t.kind == TokenKind.KEY_CHANGE for t in tokens):
        raise StationOnlineOnly(operation=SaleKind.KEY_CHANGE)
    if station.status != StationStatus.ACTIVE:
        raise StationNotActive(station=station.code, status=station.status)
    lanes = sale.meter.org_unit.tid_lanes
    if (
        station.tid_lane is None
        or lanes <= 1
        or any(t.tid is not None and t.tid % lanes != station.tid_lane for t in tokens)
    ):
        raise StationNoTidLane(meter_number=sale.meter.number)
    allowance = _check_allowance(station, sale)
    sold_total = station.sold_total_minor + sale.tender_minor
    append_entry(
        station,
        kind="sale",
        occurred_at=sale.created_at,
        data=sale_data(sale, tokens, allowance=allowance.sequence, sold_total_minor=sold_total),
        sale=sale,
    )
    station.sold_total_minor = sold_total
    station.save(update_fields=["sold_total_minor"])


def journal_shift_opened(shift: Shift) -> None:
    station = _locked_station()
    if station is None:
        return
    if station.status != StationStatus.ACTIVE:
        raise StationNotActive(station=station.code, status=station.status)
    append_entry(
        station,
        kind="shift_opened",
        occurred_at=shift.opened_at,
        data={
            "shift": shift.pk,
            "operator": shift.operator.username,
            "opened_at": protocol.utc_text(shift.opened_at),
            "opening_float_minor": shift.opening_float_minor,
            "currency": shift.currency,
        },
    )


def journal_shift_closed(shift: Shift) -> None:
    # A suspended station may still close its shifts: the count is what happened at the till.
    station = _locked_station()
    if station is None:
        return
    assert shift.closed_at is not None
    append_entry(
        station,
        kind="shift_closed",
        occurred_at=shift.closed_at,
        data={
            "shift": shift.pk,
            "closed_at": protocol.utc_text(shift.closed_at),
            "expected": shift.expected,
            "counted": shift.counted,
            "over_short_minor": shift.over_short_minor,
            "close_note": shift.close_note,
        },
    )


def sold_offline_by(sale: Sale) -> str | None:
    """The station that sold ``sale`` offline, for its receipt: this station, for a sale in its
    journal; on the master, the station whose applied entry became the sale."""
    mode = _station_mode()
    if mode is not None:
        return mode.code if LocalEntry.objects.filter(sale=sale).exists() else None
    code: str | None = (
        StationEntry.objects.filter(sale=sale).values_list("station__code", flat=True).first()
    )
    return code
