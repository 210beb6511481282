"""Reads of the partner channel: a partner's requests, its float and its credit line."""

from __future__ import annotations

from gridvend.kernel.money import Money
from gridvend.ledger.models import Account
from gridvend.partners.errors import RequestNotFound
from gridvend.partners.models import Partner, PartnerRequest


def partner_request(partner: Partner, request_id: str) -> PartnerRequest:
    """One of the partner's own requests by its id (another partner's ids are never found)."""
    found = (
        PartnerRequest.objects.select_related("sale__meter", "sale__customer")
        .filter(partner=partner, request_id=request_id[:64])
        .first()
    )
    if found is None:
        raise RequestNotFound(request_id=request_id[:64])
    return found


def credit_limit(partner: Partner) -> Money:
    """How far below zero the partner's float may be drawn (its ledger account's limit)."""
    limit = (
        Account.objects.filter(code=partner.float_account)
        .values_list("limit_minor", flat=True)
        .first()
    )
    return Money(max(limit or 0, 0), partner.currency)
