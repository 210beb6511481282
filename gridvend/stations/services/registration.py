"""The master's control of its stations: register one (a one-time enrolment code and, for a
selling station, a TID lane of its unit), issue a new code while it waits for enrolment, and
suspend, reinstate or revoke it (docs/stations.md, "Register and enrol a station").

Suspension and revocation take effect at the station's next contact (``GET status`` tells it,
and every signed request is checked against its status), and in any case when its allowance
expires. A revoked station keeps its TID lane while an allowance it was given is valid (it may
sell until its next contact), and its vending point is closed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.changes import audited_change, record_created
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.org.models import Channel, OrgUnit, VendingPoint, VendingPointStatus
from gridvend.org.services import close_vending_point
from gridvend.stations import permissions
from gridvend.stations.errors import StationInvalid, StationStateInvalid, StationTaken
from gridvend.stations.events import StationEvent
from gridvend.stations.models import (
    TID_LANES,
    Station,
    StationBatch,
    StationEntry,
    StationRole,
    StationStatus,
)
from gridvend.stations.services import lanes

STATION_CODE = re.compile(r"[a-z0-9][a-z0-9-]{2,39}")
# 26 characters of RFC 4648 base32: 130 bits, typed once at `gridvend station init`.
CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
CODE_LENGTH = 26
MAX_NAME = 120
MAX_REASON = 200


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(code: str) -> str:
    """How the code is kept: it has 130 bits, so one SHA-256 suffices (no guessing to slow)."""
    return hashlib.sha256(code.strip().upper().encode("ascii", "replace")).hexdigest()


def _require_manager(actor: User, unit: OrgUnit) -> None:
    if not permissions.can_manage_stations(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, unit)


def _reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not cleaned:
        raise StationInvalid(field="reason", problem="a reason is required")
    if len(cleaned) > MAX_REASON:
        raise StationInvalid(field="reason", problem="at most 200 characters")
    return cleaned


def _set_code(station: Station, code: str) -> None:
    station.enrol_code_hash = code_hash(code)
    station.enrol_code_expires_at = timezone.now() + timedelta(
        hours=int(settings.STATION_ENROLMENT_HOURS)
    )
    station.enrol_failures = 0


def _split_tids(unit: OrgUnit) -> None:
    """The unit and every unit under it sell in lanes from now on (lane 0 on the master)."""
    OrgUnit.objects.filter(path__startswith=unit.path, tid_lanes__lt=TID_LANES).update(
        tid_lanes=TID_LANES
    )


def register_station(
    *,
    actor: User,
    code: str,
    name: str,
    org_unit: OrgUnit,
    vending_point: VendingPoint | None = None,
    role: str = StationRole.STATION,
    parent: Station | None = None,
) -> tuple[Station, str]:
    """A new station (or business-unit relay) of ``org_unit``, waiting for its enrolment; the
    one-time code it enrols with (shown once: only its SHA-256 is kept)."""
    _require_manager(actor, org_unit)
    wanted = code.strip().lower()
    if not STATION_CODE.fullmatch(wanted):
        raise StationInvalid(field="code", problem="3 to 40 letters a-z, digits and dashes")
    cleaned_name = " ".join(name.split())
    if not cleaned_name or len(cleaned_name) > MAX_NAME:
        raise StationInvalid(field="name", problem="1 to 120 characters")
    if role not in StationRole.values:
        raise StationInvalid(field="role", problem="a vending station or a relay")
    if role == StationRole.STATION:
        if vending_point is None:
            raise StationInvalid(field="vending_point", problem="a station sells at a point")
        if vending_point.channel != Channel.OFFLINE_STATION:
            raise StationInvalid(field="vending_point", problem="not an offline-station point")
        if vending_point.status != VendingPointStatus.ACTIVE:
            raise StationInvalid(field="vending_point", problem="the point is not open")
        if not vending_point.org_unit.path.startswith(org_unit.path):
            raise StationInvalid(field="vending_point", problem="not of this unit")
        require_unit_in_scope(actor, vending_point.org_unit)
    elif vending_point is not None:
        raise StationInvalid(field="vending_point", problem="a relay sells nothing")
    if parent is not None:
        if parent.role != StationRole.RELAY or parent.status == StationStatus.REVOKED:
            raise StationInvalid(field="parent", problem="not a live relay")
        if not org_unit.path.startswith(parent.org_unit.path):
            raise StationInvalid(field="parent", problem="the relay does not serve this unit")
    secret = new_code()
    try:
        with transaction.atomic(durable=True):
            lane = None
            if role == StationRole.STATION:
                # Where the unit is now, its chain locked (a move waits, or went first).
                org_unit = lanes.lock_units_above(org_unit)
                lane = lanes.free_lane(org_unit)
            station = Station(
                code=wanted,
                name=cleaned_name,
                role=role,
                org_unit=org_unit,
                vending_point=vending_point,
                parent=parent,
                tid_lane=lane,
                created_by=actor,
            )
            _set_code(station, secret)
            station.save()
            if lane is not None:
                _split_tids(org_unit)
            record_created(actor=actor, instance=station, event=StationEvent.REGISTERED)
    except IntegrityError:
        if Station.objects.filter(code=wanted).exists():
            raise StationTaken(field="code") from None
        if (
            vending_point is not None
            and Station.objects.filter(vending_point=vending_point).exists()
        ):
            raise StationTaken(field="vending_point") from None
        # Another registration took the same lane at the same moment (the unit's lane index).
        raise StationTaken(field="tid_lane") from None
    return station, secret


def _locked(station: Station) -> Station:
    return Station.objects.select_for_update().select_related("org_unit").get(pk=station.pk)


# A relay already enrolled may be enrolled again (its disk was lost): it holds no journal of its
# own and no vending key, so a new install under the same registration loses nothing of it.
_RE_ENROLLED = (StationStatus.ACTIVE, StationStatus.SUSPENDED)


def reissue_enrolment_code(*, actor: User, station: Station) -> tuple[Station, str]:
    """A fresh one-time code for a station still waiting for enrolment (the old one stops
    working, and wrong tries are counted afresh), for a relay to be enrolled again (a lost
    disk), or for a selling station whose enrolment answer was lost (``never_heard_from``):
    the station goes back to waiting for enrolment and its old key is retired at once, so
    nothing signed with it is accepted any more."""
    _require_manager(actor, station.org_unit)
    secret = new_code()
    with transaction.atomic(durable=True):
        locked = _locked(station)
        relay_again = locked.role == StationRole.RELAY and locked.status in _RE_ENROLLED
        lost_answer = locked.role == StationRole.STATION and never_heard_from(locked)
        again = relay_again or lost_answer
        if locked.status != StationStatus.PENDING and not again:
            raise StationStateInvalid(station=locked.code, status=locked.status)
        extra: dict[str, object] = {"re_enrolment": True} if again else {}
        if lost_answer:
            extra["reason"] = "no contact since enrolment"
        with audited_change(
            actor=actor,
            instance=locked,
            event=StationEvent.CODE_ISSUED,
            fields=(*Station.audited_fields, "public_key"),
            after_extra={"code_expires_at": "set", **extra},
        ):
            _set_code(locked, secret)
            if again:
                locked.status = StationStatus.PENDING
                locked.public_key = ""
    return locked, secret


def never_heard_from(station: Station) -> bool:
    """An active selling station the master has not heard from since it enrolled: no status
    call (its first sync makes one), no upload, nothing of its journal held. What an enrolment
    whose answer never reached the station looks like (the link cut, the command killed): the
    key enrolled is lost with it, so no install can ever sign with it. Read under the
    station's lock. A station that did get its answer and sells offline without ever
    connecting looks the same: the manager who asks for a code says the install is gone.

    Never for a station below a relay: it talks only to its relay, whose record of its contact
    does not reach the master, so the master cannot tell a lost answer from a station selling
    behind a relay whose own link is down (revoke it and register a new one instead)."""
    if station.status != StationStatus.ACTIVE or station.enrolled_at is None:
        return False
    if station.parent_id is not None:
        return False
    if station.last_seq != 0 or station.last_upload_at is not None:
        return False
    if station.last_contact_at is not None and station.last_contact_at > station.enrolled_at:
        return False
    if StationBatch.objects.filter(station=station).exists():
        return False
    return not StationEntry.objects.filter(station=station).exists()


def _change_status(
    *,
    actor: User,
    station: Station,
    allowed: tuple[str, ...],
    to: str | None,
    event: str,
    reason: str,
) -> Station:
    """``to`` None: back to work, active when enrolled, else waiting for enrolment."""
    _require_manager(actor, station.org_unit)
    cleaned = _reason(reason)
    with transaction.atomic(durable=True):
        locked = _locked(station)
        if locked.status not in allowed:
            raise StationStateInvalid(station=locked.code, status=locked.status)
        with audited_change(
            actor=actor,
            instance=locked,
            event=event,
            fields=(*Station.audited_fields, "status_reason", "tid_lane"),
        ):
            if to is None:
                to = StationStatus.ACTIVE if locked.public_key else StationStatus.PENDING
            locked.status = to
            locked.status_reason = cleaned
            if to == StationStatus.REVOKED:
                # Nothing of a revoked station opens again: no code works. Its lane stays
                # taken while an allowance it was given is valid (lanes.lane_holders), then is
                # free for another station; the row keeps the lane it sold in, for the record.
                locked.enrol_code_hash = ""
                locked.enrol_code_expires_at = None
        if to == StationStatus.REVOKED and locked.vending_point_id is not None:
            # Its one vending point sells nowhere after, not on the master either.
            point = VendingPoint.objects.get(pk=locked.vending_point_id)
            close_vending_point(actor=actor, point=point, reason=cleaned)
    return locked


def suspend_station(*, actor: User, station: Station, reason: str) -> Station:
    return _change_status(
        actor=actor,
        station=station,
        allowed=(StationStatus.ACTIVE, StationStatus.PENDING),
        to=StationStatus.SUSPENDED,
        event=StationEvent.SUSPENDED,
        reason=reason,
    )


def reinstate_station(*, actor: User, station: Station, reason: str) -> Station:
    return _change_status(
        actor=actor,
        station=station,
        allowed=(StationStatus.SUSPENDED,),
        to=None,
        event=StationEvent.REINSTATED,
        reason=reason,
    )


def revoke_station(*, actor: User, station: Station, reason: str) -> Station:
    """For good (lost, stolen, closed): its requests are refused except ``GET status``, which
    tells it so, and what it uploads afterwards is rejected and flagged."""
    return _change_status(
        actor=actor,
        station=station,
        allowed=(StationStatus.PENDING, StationStatus.ACTIVE, StationStatus.SUSPENDED),
        to=StationStatus.REVOKED,
        event=StationEvent.REVOKED,
        reason=reason,
    )


def check_point_status(point: VendingPoint, new_status: str) -> None:
    """A revoked station's vending point stays closed (``revoke_station`` closed it): reopening
    it would let the master sell as a station that may still be selling offline in its lane,
    and tie new sales to a station that is gone. Run by ``update_vending_point`` under the
    point's lock (``org.move_hooks``)."""
    if new_status == VendingPointStatus.CLOSED:
        return
    revoked = Station.objects.filter(vending_point=point, status=StationStatus.REVOKED).first()
    if revoked is not None:
        raise StationStateInvalid(station=revoked.code, status=revoked.status)
