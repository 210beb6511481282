"""Row locks for user writes: one user's row at a time, so no lock order between users exists.

``of=("self",)`` keeps PostgreSQL from also locking the organisation unit read along.
"""

from __future__ import annotations

from gridvend.identity.models import User


def lock_user(user_id: int) -> User:
    """The user's row, fresh, with their unit read along: sign-in counters, grants and second
    factor are checked and changed under it."""
    return User.objects.select_for_update(of=("self",)).select_related("org_unit").get(pk=user_id)
