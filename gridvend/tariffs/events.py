"""The audit event types that tariff and tariff-version services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class TariffEvent(StrEnum):
    CREATED = "tariff.created"
    VERSION_DRAFTED = "tariff_version.drafted"
    VERSION_UPDATED = "tariff_version.updated"
    VERSION_SUBMITTED = "tariff_version.submitted"
    VERSION_PUBLISHED = "tariff_version.published"
    VERSION_REJECTED = "tariff_version.rejected"
    VERSION_WITHDRAWN = "tariff_version.withdrawn"
