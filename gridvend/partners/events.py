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
    SETTLEMENT_FILE_RECONCILED = "settlement_file.reconciled"
    SETTLEMENT_FILE_MISSING = "settlement_file.missing"
    SETTLEMENT_ITEM_RESOLVED = "settlement_item.resolved"
    RESOLUTION_REQUESTED = "settlement_resolution.requested"
    RESOLUTION_APPROVED = "settlement_resolution.approved"
    RESOLUTION_REJECTED = "settlement_resolution.rejected"
