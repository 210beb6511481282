"""Scoped reads of users, and what a user's stored state says about signing in."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from gridvend.identity.credentials import is_locked_out
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


def is_locked(user: User) -> bool:
    """Whether the user is locked out now, after too many wrong passwords or codes."""
    return is_locked_out(user)


def totp_requirement(user: User) -> bool:
    """Whether the user must sign in with an authenticator code as well as the password."""
    return user.is_administrator and settings.REQUIRE_ADMIN_TOTP
