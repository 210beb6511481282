"""Row locks of the partner channel, in the order of ``vending/locks.py``.

A partner's row is locked only to change its profile, never by a sale (a partner's sales must not
queue behind one row). An advice locks its request's row, and then, to reverse, the sale's
customer and sale as any reversal does: a purchase never holds a request row while it waits for a
customer, because it inserts its request row last (``after_write``), so the two cannot deadlock.
"""

from __future__ import annotations

from gridvend.partners.models import Partner, PartnerRequest


def lock_partner(pk: int) -> Partner:
    return Partner.objects.select_for_update(of=("self",)).select_related("org_unit").get(pk=pk)


def lock_request(partner: Partner, request_id: str) -> PartnerRequest | None:
    return (
        PartnerRequest.objects.select_for_update(of=("self",))
        .filter(partner=partner, request_id=request_id)
        .first()
    )
