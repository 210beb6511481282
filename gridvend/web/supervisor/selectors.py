"""Scoped reads the supervisor screens need that no domain selector offers yet."""

from __future__ import annotations

from django.db.models import QuerySet

from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.vending.models import FreeIssueRequest, RequestStatus, ReversalRequest

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


def _free_requests() -> QuerySet[FreeIssueRequest]:
    return FreeIssueRequest.objects.select_related(
        "meter", "meter__org_unit", "meter__customer", "vending_point", "requested_by"
    )


def pending_free_issue_requests(actor: User) -> QuerySet[FreeIssueRequest]:
    return scoped(
        _free_requests().filter(status=RequestStatus.PENDING), actor, path="meter__org_unit__path"
    ).order_by("requested_at", "id")


def get_free_issue_request(actor: User, pk: int) -> FreeIssueRequest:
    return get_scoped(_free_requests(), actor, path="meter__org_unit__path", pk=pk)
