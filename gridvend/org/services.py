"""Every write to the organisation tree and vending points."""

from __future__ import annotations

import ipaddress

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils.text import slugify
from django.utils.translation import gettext as _

from gridvend.audit.changes import audited_change, record_created
from gridvend.audit.services import record
from gridvend.identity import permissions
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.org import move_hooks
from gridvend.org.events import OrgEvent
from gridvend.org.locks import lock_vending_point
from gridvend.org.models import (
    PATH_SEGMENT_WIDTH,
    OrgLevel,
    OrgUnit,
    VendingPoint,
    VendingPointStatus,
)
from gridvend.org.move_hooks import run_move_checks
from gridvend.transactions import use_case

DEFAULT_LEVELS = [
    ("data-centre", "Data centre"),
    ("region", "Distribution region"),
    ("business-unit", "Business unit"),
    ("service-centre", "Service centre"),
]


def _segment(pk: int) -> str:
    return f"{pk:0{PATH_SEGMENT_WIDTH}x}/"


def ensure_levels(names: list[tuple[str, str]] | None = None) -> list[OrgLevel]:
    """Create the level names on a new installation (configuration, not demo data)."""
    with transaction.atomic(durable=True):
        _ensure_levels(names)
    return list(OrgLevel.objects.all())


def _ensure_levels(names: list[tuple[str, str]] | None = None) -> None:
    # The body, also run inside create_root's transaction: the root needs its level.
    if not OrgLevel.objects.exists():
        for depth, (code, name) in enumerate(names or DEFAULT_LEVELS):
            OrgLevel.objects.create(depth=depth, code=code, name=name)


def rename_level(*, actor: User, level: OrgLevel, name: str) -> OrgLevel:
    if not actor.is_administrator:
        raise AccessDenied()
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A level needs a name."), field="name")
    with transaction.atomic(durable=True):
        before = level.name
        level.name = name
        level.save(update_fields=["name"])
        record(
            actor=actor, event_type=OrgEvent.LEVEL_RENAMED, target=level, before=before, after=name
        )
    return level


def add_level(*, actor: User, name: str) -> OrgLevel:
    """Name one more depth of the tree (deeper units than any named level take the last name)."""
    if not actor.is_administrator:
        raise AccessDenied()
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A level needs a name."), field="name")
    with transaction.atomic(durable=True):
        depth = (
            OrgLevel.objects.order_by("-depth").values_list("depth", flat=True).first() or 0
        ) + 1
        code = slugify(name)[:20] or f"level-{depth}"
        if OrgLevel.objects.filter(code=code).exists():
            code = f"{code[:14]}-{depth}"
        level = OrgLevel.objects.create(depth=depth, name=name, code=code)
        record(actor=actor, event_type=OrgEvent.LEVEL_ADDED, target=level, after=name)
    return level


def _clean_code(code: str, name: str) -> str:
    value = slugify(code or name)[:40]
    if not value:
        raise ValidationFailed(_("A code of letters, digits or dashes is required."), field="code")
    return value


def create_root(*, name: str, code: str = "") -> OrgUnit:
    """The top of the tree, made once at installation (by `createadmin` or the demo)."""
    with transaction.atomic(durable=True):
        existing = OrgUnit.objects.filter(parent__isnull=True).first()
        if existing is not None:
            return existing
        _ensure_levels()
        unit = OrgUnit.objects.create(
            name=name, code=_clean_code(code, name), depth=0, path="pending/"
        )
        unit.path = _segment(unit.pk)
        unit.save(update_fields=["path"])
        record(actor=None, event_type=OrgEvent.UNIT_CREATED, target=unit, after={"name": name})
    return unit


def create_unit(*, actor: User, parent: OrgUnit, name: str, code: str = "") -> OrgUnit:
    if not permissions.can_manage_tree(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, parent)
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A unit needs a name."), field="name")
    clean = _clean_code(code, name)
    with transaction.atomic(durable=True):
        if OrgUnit.objects.filter(code=clean).exists():
            raise ValidationFailed(_("That code is already used."), field="code")
        if OrgUnit.objects.filter(parent=parent, name=name).exists():
            raise ValidationFailed(_("A unit with that name already exists here."), field="name")
        # A unit under one served by offline stations sells in TID lanes too (stations.models
        # TID_LANES): the parent's row is locked so a station registered at the same moment
        # cannot split the parent's TIDs without the new unit's.
        lanes = (
            OrgUnit.objects.select_for_update()
            .values_list("tid_lanes", flat=True)
            .get(pk=parent.pk)
        )
        unit = OrgUnit.objects.create(
            name=name,
            code=clean,
            parent=parent,
            depth=parent.depth + 1,
            path="pending/",
            tid_lanes=lanes,
        )
        unit.path = parent.path + _segment(unit.pk)
        unit.save(update_fields=["path"])
        record(
            actor=actor,
            event_type=OrgEvent.UNIT_CREATED,
            target=unit,
            after={"name": name, "code": clean, "parent": parent.pk},
        )
    return unit


def rename_unit(*, actor: User, unit: OrgUnit, name: str) -> OrgUnit:
    if not permissions.can_manage_tree(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, unit)
    name = name.strip()
    if not name:
        raise ValidationFailed(_("A unit needs a name."), field="name")
    with transaction.atomic(durable=True):
        if OrgUnit.objects.filter(parent=unit.parent, name=name).exclude(pk=unit.pk).exists():
            raise ValidationFailed(_("A unit with that name already exists here."), field="name")
        before = unit.name
        unit.name = name
        unit.save(update_fields=["name"])
        record(
            actor=actor, event_type=OrgEvent.UNIT_RENAMED, target=unit, before=before, after=name
        )
    return unit


def move_unit(*, actor: User, unit: OrgUnit, new_parent: OrgUnit) -> OrgUnit:
    """Re-hang a subtree; every descendant's path is rewritten in one UPDATE. The apps above
    may refuse it first (``move_hooks``: offline stations' TID lanes)."""
    if not permissions.can_manage_tree(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, unit)
    require_unit_in_scope(actor, new_parent)
    if unit.parent_id is None:
        raise ValidationFailed(_("The top of the tree cannot be moved."))
    if new_parent.path.startswith(unit.path):
        raise ValidationFailed(_("A unit cannot be moved under itself."), field="parent")
    if actor.org_unit_id == unit.pk:
        raise AccessDenied()
    with transaction.atomic(durable=True):
        # The unit's chain of ancestors and the new parent's, locked from the top down as a
        # station's registration locks its unit's chain: a station registered meanwhile
        # above, in or under the unit waits for the move (and the move for it).
        chains = {prefix for path in (unit.path, new_parent.path) for prefix in _prefixes(path)}
        locked = {
            u.pk: u
            for u in OrgUnit.objects.select_for_update().filter(path__in=chains).order_by("path")
        }
        fresh_unit, fresh_parent = locked.get(unit.pk), locked.get(new_parent.pk)
        if (
            fresh_unit is None
            or fresh_parent is None
            or (fresh_unit.path, fresh_parent.path) != (unit.path, new_parent.path)
        ):
            raise ValidationFailed(_("The tree changed meanwhile: try again."))
        unit, new_parent = fresh_unit, fresh_parent
        run_move_checks(unit, new_parent)
        old_path = unit.path
        new_path = new_parent.path + _segment(unit.pk)
        shift = new_parent.depth + 1 - unit.depth
        OrgUnit.objects.filter(path__startswith=old_path).update(
            path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
            depth=F("depth") + shift,
        )
        # Moved under units served by offline stations, the subtree sells in their TID lanes.
        lanes = new_parent.tid_lanes
        OrgUnit.objects.filter(path__startswith=new_path, tid_lanes__lt=lanes).update(
            tid_lanes=lanes
        )
        OrgUnit.objects.filter(pk=unit.pk).update(parent=new_parent)
        unit.refresh_from_db()
        record(
            actor=actor,
            event_type=OrgEvent.UNIT_MOVED,
            target=unit,
            before={"path": old_path},
            after={"path": unit.path, "parent": new_parent.pk},
        )
    return unit


def _prefixes(path: str) -> list[str]:
    """The paths of a unit and of every unit above it ("a/b/" -> ["a/", "a/b/"])."""
    return [path[:end] for end in range(1, len(path) + 1) if path[end - 1] == "/"]


def clean_allow_list(raw: str) -> str:
    """Comma- or line-separated addresses and networks, checked and joined with commas."""
    items = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValidationFailed(
                _("%(item)s is not an IP address or network.") % {"item": item},
                field="ip_allow_list",
            ) from None
    return ",".join(items)


@use_case
def create_vending_point(
    *,
    actor: User,
    org_unit: OrgUnit,
    name: str,
    channel: str,
    code: str = "",
    address: str = "",
    ip_allow_list: str = "",
    float_account: str = "",
) -> VendingPoint:
    """A new vending point. ``float_account``: the ledger account of the float it sells from
    (a partner's points share the partner's); empty for a point that takes payments itself."""
    if not permissions.can_manage_vending_points(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, org_unit)
    from gridvend.org.models import Channel

    if channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    if not name.strip():
        raise ValidationFailed(_("A vending point needs a name."), field="name")
    clean = _clean_code(code, name)
    if VendingPoint.objects.filter(code=clean).exists():
        raise ValidationFailed(_("That code is already used."), field="code")
    point = VendingPoint.objects.create(
        org_unit=org_unit,
        code=clean,
        name=name.strip(),
        channel=channel,
        address=address,
        ip_allow_list=clean_allow_list(ip_allow_list),
        uses_float=bool(float_account),
        float_account=float_account,
    )
    record_created(actor=actor, instance=point, event=OrgEvent.VENDING_POINT_CREATED)
    return point


def update_vending_point(
    *,
    actor: User,
    point: VendingPoint,
    name: str | None = None,
    status: str | None = None,
    address: str | None = None,
    ip_allow_list: str | None = None,
) -> VendingPoint:
    if not permissions.can_manage_vending_points(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, point.org_unit)
    with transaction.atomic(durable=True):
        locked = lock_vending_point(point)
        with audited_change(actor=actor, instance=locked, event=OrgEvent.VENDING_POINT_UPDATED):
            if name is not None:
                if not name.strip():
                    raise ValidationFailed(_("A vending point needs a name."), field="name")
                locked.name = name.strip()
            if status is not None:
                if status not in VendingPointStatus.values:
                    raise ValidationFailed(_("Unknown status."), field="status")
                if status != locked.status:
                    move_hooks.run_point_status_checks(locked, status)
                locked.status = status
            if address is not None:
                locked.address = address
            if ip_allow_list is not None:
                locked.ip_allow_list = clean_allow_list(ip_allow_list)
    return locked


def close_vending_point(*, actor: User, point: VendingPoint, reason: str) -> VendingPoint:
    """Close a point inside the caller's transaction, for a use case that has checked the actor
    itself: the one point of an offline station its manager revokes sells nowhere after, not on
    the master either. The point, its shifts and sales stay for the record; the change is
    audited with its reason. A point already closed is left as it is."""
    locked = lock_vending_point(point)
    if locked.status != VendingPointStatus.CLOSED:
        with audited_change(
            actor=actor,
            instance=locked,
            event=OrgEvent.VENDING_POINT_UPDATED,
            after_extra={"reason": reason},
        ):
            locked.status = VendingPointStatus.CLOSED
    return locked
