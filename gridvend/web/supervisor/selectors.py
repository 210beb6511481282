"""Scoped reads the supervisor screens need that no domain selector offers yet."""

from __future__ import annotations

from django.db.models import QuerySet

from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.vending.models import RequestStatus, ReversalRequest

_PATH = "sale__meter__org_unit__path"


def _requests() -> QuerySet[ReversalRequest]:
    return ReversalRequest.objects.select_related(
        "sale", "sale__meter", "sale__meter__org_unit", "sale__customer", "requested_by"
    )


def pending_reversal_requests(actor: User) -> QuerySet[ReversalRequest]:
    """Requests waiting for a decision in the actor's subtree, oldest first."""
    return scoped(_requests().filter(status=RequestStatus.PENDING), actor, path=_PATH).order_by(
        "requested_at", "id"
    )


def get_reversal_request(actor: User, pk: int) -> ReversalRequest:
    return get_scoped(_requests(), actor, path=_PATH, pk=pk)
