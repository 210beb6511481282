"""Who reads the phone channels' traffic: those who read mobile payments."""

from __future__ import annotations

from gridvend.identity.models import User
from gridvend.mobilemoney import permissions as mobile_permissions


def can_view_traffic(actor: User) -> bool:
    return mobile_permissions.can_view_payments(actor)
