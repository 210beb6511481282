"""Scoped reads of the organisation tree and vending points."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.org.models import OrgLevel, OrgUnit, VendingPoint


def list_units(actor: User, *, search: str = "") -> QuerySet[OrgUnit]:
    qs = scoped(OrgUnit.objects.all(), actor, path="path").annotate(
        point_count=Count("vending_points", distinct=True)
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return qs.order_by("path")


def get_unit(actor: User, pk: int) -> OrgUnit:
    return get_scoped(OrgUnit.objects.all(), actor, path="path", pk=pk)


def list_levels() -> QuerySet[OrgLevel]:
    return OrgLevel.objects.order_by("depth")


def get_level(pk: int) -> OrgLevel:
    level = OrgLevel.objects.filter(pk=pk).first()
    if level is None:
        raise NotFound()
    return level


def level_names() -> dict[int, str]:
    return dict(OrgLevel.objects.values_list("depth", "name"))


def level_name(depth: int, names: dict[int, str]) -> str:
    """Deeper than the configured levels, units take the deepest level's name."""
    if not names:
        return ""
    return names.get(depth) or names[max(names)]


def list_vending_points(
    actor: User, *, search: str = "", channel: str = "", unit: OrgUnit | None = None
) -> QuerySet[VendingPoint]:
    qs = scoped(VendingPoint.objects.select_related("org_unit"), actor)
    if unit is not None:
        qs = qs.filter(org_unit__path__startswith=unit.path)
    if channel:
        qs = qs.filter(channel=channel)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return qs.order_by("code")


def get_vending_point(actor: User, pk: int) -> VendingPoint:
    return get_scoped(VendingPoint.objects.select_related("org_unit"), actor, pk=pk)
