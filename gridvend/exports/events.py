"""Every audit event type the exports app writes, registered with the audit log.

The values are stored in the audit chain; never change one.
"""

from __future__ import annotations

from enum import StrEnum

from gridvend.audit.events import register


@register
class ExportEvent(StrEnum):
    EXPORT_REQUESTED = "export.requested"
    EXPORT_DOWNLOADED = "export.downloaded"
    EXPORT_DELETED = "export.deleted"
