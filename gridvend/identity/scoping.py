"""The one scoping helper: every selector narrows its queryset to the actor's subtree here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Model, QuerySet

from gridvend.identity.errors import NotFound

if TYPE_CHECKING:
    from gridvend.identity.models import User
    from gridvend.org.models import OrgUnit

M = TypeVar("M", bound=Model)


def scoped(queryset: QuerySet[M], actor: User, *, path: str = "org_unit__path") -> QuerySet[M]:
    """Rows whose organisation unit lies in the actor's subtree; inactive actors see nothing."""
    if not actor.is_active:
        return queryset.none()
    return queryset.filter(**{f"{path}__startswith": actor.org_unit.path})


def get_scoped(
    queryset: QuerySet[M], actor: User, *, path: str = "org_unit__path", **lookup: Any
) -> M:
    """One object in scope, or NotFound whether it is missing or merely out of scope."""
    obj = scoped(queryset, actor, path=path).filter(**lookup).first()
    if obj is None:
        raise NotFound()
    return obj


def unit_in_scope(actor: User, unit: OrgUnit) -> bool:
    return actor.is_active and unit.path.startswith(actor.org_unit.path)


def require_unit_in_scope(actor: User, unit: OrgUnit) -> None:
    if not unit_in_scope(actor, unit):
        raise NotFound()
