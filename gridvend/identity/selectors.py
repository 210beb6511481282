"""Scoped reads of users."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped


def list_users(actor: User, *, search: str = "", role: str = "") -> QuerySet[User]:
    qs = scoped(User.objects.select_related("org_unit"), actor).prefetch_related("capabilities")
    if role:
        qs = qs.filter(role=role)
    if search:
        qs = qs.filter(Q(username__icontains=search) | Q(full_name__icontains=search))
    return qs.order_by("username")


def get_user(actor: User, pk: int) -> User:
    return get_scoped(User.objects.select_related("org_unit"), actor, pk=pk)
