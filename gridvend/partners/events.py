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
    FLOAT_TOP_UP_REQUESTED = "float_top_up.requested"
    FLOAT_TOP_UP_APPROVED = "float_top_up.approved"
    FLOAT_TOP_UP_REJECTED = "float_top_up.rejected"
    # The float fell below the partner's alert level (once per crossing), and came back above it.
    LOW_FLOAT_ALERTED = "partner_float.fell_low"
    LOW_FLOAT_RECOVERED = "partner_float.recovered"
    SETTLEMENT_FILE_RECONCILED = "settlement_file.reconciled"
    SETTLEMENT_FILE_MISSING = "settlement_file.missing"
    SETTLEMENT_ITEM_RESOLVED = "settlement_item.resolved"
    RESOLUTION_REQUESTED = "settlement_resolution.requested"
    RESOLUTION_APPROVED = "settlement_resolution.approved"
    RESOLUTION_REJECTED = "settlement_resolution.rejected"
