"""The audit event types that customer, premise and debt services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class CustomerEvent(StrEnum):
    CREATED = "customer.created"
    UPDATED = "customer.updated"
    STATUS_CHANGED = "customer.status_changed"
    PREMISE_CREATED = "premise.created"
    PREMISE_UPDATED = "premise.updated"
    DEBT_OPENED = "debt.opened"
