"""Whether an export's owner may still read its rows: asked by the job before it writes the file
and again by every download, so a file goes only to someone who could read its rows now."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from gridvend.exports import registry
from gridvend.exports.errors import ExportAccessLost
from gridvend.exports.models import Export
from gridvend.identity.errors import AccessDenied, NotFound


def owner_rows(export: Export, source: registry.ExportSource) -> QuerySet[Any]:
    """The rows the owner reads now with the export's filters. ExportAccessLost when the owner
    was deactivated, lost the right to the list, or no longer reaches a unit the filters name."""
    owner = export.owner
    if not owner.is_active or not source.allowed(owner):
        raise ExportAccessLost()
    try:
        return source.rows(owner, export.filters)
    except (NotFound, AccessDenied):
        raise ExportAccessLost() from None


def require_owner_may_download(export: Export) -> None:
    """As ``owner_rows``, and the owner's subtree must still hold the one the rows were read in:
    without a unit filter a clerk moved to another region would otherwise keep the old region's
    file. A file with no recorded scope is refused."""
    owner_rows(export, registry.get_source(export.source))
    if not export.scope_path or not export.scope_path.startswith(export.owner.org_unit.path):
        raise ExportAccessLost()
