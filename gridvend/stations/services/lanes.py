"""TID lanes of the stations (docs/stations.md, "TIDs: lanes"): which stations hold a lane, the
lane a new station of a unit takes, and the check that keeps a move in the organisation tree
from giving two stations that may sell to the same meters one lane.

Two stations *overlap* when one's unit is the other's or above it: both may sell to the meters
of the lower one, so they must sell in different lanes. A station holds its lane while it is not
revoked, and after its revocation as long as an allowance it was given is valid: it learns of
the revocation only at its next contact and may sell in its lane until then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.identity.errors import ValidationFailed
from gridvend.org.models import OrgUnit
from gridvend.stations.errors import StationMoveLaneClash, StationNoFreeLane
from gridvend.stations.models import TID_LANES, Station, StationAllowance, StationStatus


def path_prefixes(path: str) -> list[str]:
    """The paths of a unit and of every unit above it ("a/b/" -> ["a/", "a/b/"])."""
    return [path[:end] for end in range(1, len(path) + 1) if path[end - 1] == "/"]


def lane_holders(now: datetime | None = None) -> QuerySet[Station]:
    """The stations whose lane nobody else overlapping them may take: every station not revoked,
    and a revoked one that enrolled (it has keys) while an allowance it was given is still
    valid, with the clock skew a station's clock may have (it may sell until then)."""
    moment = (now or timezone.now()) - timedelta(seconds=int(settings.STATION_CLOCK_SKEW_SECONDS))
    still_valid = StationAllowance.objects.filter(station=OuterRef("pk"), valid_until__gt=moment)
    return Station.objects.filter(tid_lane__isnull=False).filter(
        ~Q(status=StationStatus.REVOKED) | (~Q(public_key="") & Exists(still_valid))
    )


def _lanes(found: QuerySet[Station]) -> set[int]:
    return {lane for lane in found.values_list("tid_lane", flat=True) if lane is not None}


def lock_units_above(unit: OrgUnit) -> OrgUnit:
    """The unit and its ancestors, locked in path order, and the unit as it is now: two
    registrations whose units share meters (one is above the other) both lock the higher unit,
    so they take lanes one after the other, and a move in the tree locks the same rows
    (``org.services.move_unit``). The path is read again under the lock: a unit moved meanwhile
    is locked and counted where it is now."""
    for _attempt in range(3):
        path = OrgUnit.objects.values_list("path", flat=True).get(pk=unit.pk)
        locked = list(
            OrgUnit.objects.select_for_update()
            .filter(path__in=path_prefixes(path))
            .order_by("path")
        )
        for row in locked:
            if row.pk == unit.pk and row.path == path:
                return row
    raise ValidationFailed(_("The tree changed meanwhile: try again."))


def free_lane(unit: OrgUnit) -> int:
    """The lowest lane no station overlapping this unit holds (stations of the unit, of units
    above it and of units below it). ``unit`` is what ``lock_units_above`` returned."""
    holders = lane_holders()
    taken = _lanes(holders.filter(org_unit__path__in=path_prefixes(unit.path))) | _lanes(
        holders.filter(org_unit__path__startswith=unit.path)
    )
    for lane in range(1, TID_LANES):
        if lane not in taken:
            return lane
    raise StationNoFreeLane(unit=unit.name, lanes=TID_LANES - 1)


def check_unit_move(unit: OrgUnit, new_parent: OrgUnit) -> None:
    """Refuse (STATION_MOVE_LANE_CLASH) to hang ``unit`` under ``new_parent`` when a station
    that may sell to the unit's meters afterwards would share a lane with another that may too.

    After the move the meters of the unit's subtree are sold by the stations in the subtree, by
    the stations of the units above its new place, and — until they are re-initialised — by the
    stations of the units above its old place, which hold those meters already. The move keeps
    the lanes of live stations (a station learns its lane once, at enrolment), so these must
    all differ. Called inside ``move_unit``'s transaction, with the rows of both chains locked,
    before any path changes."""
    holders = lane_holders().select_related("org_unit")
    old_above = path_prefixes(unit.path)[:-1]
    new_above = path_prefixes(new_parent.path)
    staying = set(old_above) & set(new_above)
    selling = list(
        holders.filter(
            Q(org_unit__path__startswith=unit.path)
            | Q(org_unit__path__in=[p for p in old_above if p not in staying])
        )
    )
    joining = list(holders.filter(org_unit__path__in=[p for p in new_above if p not in staying]))
    for newcomer in joining:
        for station in selling:
            if station.tid_lane == newcomer.tid_lane:
                raise StationMoveLaneClash(
                    unit=unit.name,
                    parent=new_parent.name,
                    station=station.code,
                    other=newcomer.code,
                    lane=int(station.tid_lane or 0),
                )
