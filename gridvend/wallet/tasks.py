"""The wallet's jobs: the auto-purchase a top-up queues after it commits."""

from __future__ import annotations

import logging

from django.conf import settings

from gridvend.identity.models import User
from gridvend.org.models import VendingPoint
from gridvend.wallet.services import run_auto_purchase

logger = logging.getLogger("gridvend.wallet")


def seller() -> tuple[User, VendingPoint] | None:
    """The configured seller of wallet purchases made by the system (auto-purchase)."""
    point = VendingPoint.objects.filter(code=settings.WALLET_VENDING_POINT).first()
    user = User.objects.filter(username=settings.WALLET_SELLER, is_active=True).first()
    if not settings.WALLET_VENDING_POINT or point is None or user is None:
        return None
    return user, point


def auto_purchase(wallet_id: int, top_up_id: int) -> str | None:
    """Returns the sale's reference, or None when nothing was sold (logged)."""
    found = seller()
    if found is None:
        logger.warning("auto-purchase of wallet %s skipped: no wallet seller is set", wallet_id)
        return None
    actor, point = found
    result = run_auto_purchase(
        wallet_id=wallet_id, top_up_id=top_up_id, actor=actor, vending_point=point
    )
    return result.sale.reference if result is not None else None
