"""The audit event types that changes to the organisation tree and vending points write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class OrgEvent(StrEnum):
    LEVEL_ADDED = "org_level.added"
    LEVEL_RENAMED = "org_level.renamed"
    UNIT_CREATED = "org_unit.created"
    UNIT_RENAMED = "org_unit.renamed"
    UNIT_MOVED = "org_unit.moved"
    VENDING_POINT_CREATED = "vending_point.created"
    VENDING_POINT_UPDATED = "vending_point.updated"
