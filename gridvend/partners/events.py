"""Every audit event type the partners app writes, declared once and registered with the audit log.

The values are stored in the audit chain; never change one.
"""

from __future__ import annotations

from enum import StrEnum

from gridvend.audit.events import register


@register
class PartnerEvent(StrEnum):
    PARTNER_CREATED = "partner.created"
    PARTNER_UPDATED = "partner.updated"
    PARTNER_POINT_ADDED = "partner.point_added"
    KEY_ISSUED = "partner_key.issued"
    KEY_REVOKED = "partner_key.revoked"
    SALE_CONFIRMED = "partner_sale.confirmed"
    SALE_REVERSED = "partner_sale.reversed"
    SALE_EXPIRED = "partner_sale.expired"
