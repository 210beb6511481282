"""Every audit event type the reports app writes, registered with the audit log.

The values are stored in the audit chain; never change one.
"""

from __future__ import annotations

from enum import StrEnum

from gridvend.audit.events import register


@register
class ReportEvent(StrEnum):
    SUBSCRIPTION_CREATED = "report.subscription_created"
    SUBSCRIPTION_PAUSED = "report.subscription_paused"
    SUBSCRIPTION_RESUMED = "report.subscription_resumed"
    SUBSCRIPTION_DELETED = "report.subscription_deleted"
    SUBSCRIPTION_SUSPENDED = "report.subscription_suspended"
    REPORT_DELIVERED = "report.delivered"
