"""The allowances a station accepts (station side). An allowance is taken only when the master
signed it, it names this station, and its sequence is above every one accepted before: an
altered, forged, replayed or another station's allowance is refused and audited."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Max

from gridvend.audit.services import record
from gridvend.stations import protocol
from gridvend.stations.events import StationEvent
from gridvend.stations.models import LocalAllowance, LocalEntry, LocalStation


class AllowanceRefused(Exception):
    """The allowance is not this station's to use; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def accept_allowance(station: LocalStation, wire: object) -> LocalAllowance:
    """Take ``wire`` ({payload, signature}) as the station's allowance, or raise
    AllowanceRefused (audited: the refusal's event is kept, nothing else is written). The same
    allowance again is answered with the stored row."""
    try:
        allowance = protocol.read_allowance(
            wire, master_public_hex=station.master_public_key, station=station.code
        )
    except (protocol.BadSignature, ValueError, KeyError) as bad:
        _refused(station, str(bad))
        raise AllowanceRefused(str(bad)) from None
    try:
        return _store(station, allowance)
    except AllowanceRefused as refused:
        _refused(station, refused.reason)
        raise


@transaction.atomic
def _store(station: LocalStation, allowance: protocol.Allowance) -> LocalAllowance:
    # The station's row is locked: two syncs cannot both take a sequence.
    LocalStation.objects.select_for_update().filter(pk=station.pk).first()
    same = LocalAllowance.objects.filter(sequence=allowance.sequence).first()
    if same is not None:
        if same.payload == allowance.payload and same.signature == allowance.signature:
            return same
        raise AllowanceRefused("another allowance with this sequence number was accepted before")
    highest = LocalAllowance.objects.aggregate(m=Max("sequence"))["m"] or 0
    if allowance.sequence <= highest:
        raise AllowanceRefused(
            f"sequence {allowance.sequence} is not above {highest} (a replayed allowance)"
        )
    row = LocalAllowance.objects.create(
        sequence=allowance.sequence,
        ceiling_minor=allowance.ceiling_minor,
        currency=allowance.currency,
        valid_from=allowance.valid_from,
        valid_until=allowance.valid_until,
        payload=allowance.payload,
        signature=allowance.signature,
        journal_seq=LocalEntry.objects.aggregate(m=Max("seq"))["m"] or 0,
    )
    record(
        actor=None,
        event_type=StationEvent.ALLOWANCE_ACCEPTED,
        target=row,
        after={
            "sequence": row.sequence,
            "ceiling_minor": row.ceiling_minor,
            "currency": row.currency,
            "valid_until": protocol.utc_text(row.valid_until),
        },
    )
    return row


def _refused(station: LocalStation, reason: str) -> None:
    record(
        actor=None,
        event_type=StationEvent.ALLOWANCE_REFUSED,
        target=station,
        after={"reason": reason[:200]},
    )


def current_allowance(now: datetime) -> LocalAllowance | None:
    """The highest accepted allowance, if it is valid at ``now``."""
    top = LocalAllowance.objects.order_by("-sequence").first()
    if top is None or not (top.valid_from <= now < top.valid_until):
        return None
    return top
