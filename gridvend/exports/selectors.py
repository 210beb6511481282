"""Reading exports: a person sees only their own (the files carry rows of their subtree as they
saw it; no role is given other people's files)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from gridvend.exports.models import Export, ExportStatus
from gridvend.exports.permissions import require_owner_may_download
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError

MY_EXPORTS_LIMIT = 100


def list_exports(actor: User) -> QuerySet[Export]:
    """The actor's exports, newest first."""
    return Export.objects.filter(owner=actor).order_by("-created_at", "-pk")


def get_export(actor: User, pk: int) -> Export:
    """One of the actor's exports; anyone else's is not found."""
    export = Export.objects.filter(owner=actor, pk=pk).first()
    if export is None:
        raise NotFound()
    return export


def export_directory(export_id: int) -> Path:
    return Path(settings.EXPORT_DIR) / str(export_id)


def get_ready_file(actor: User, pk: int) -> tuple[Export, Path]:
    """The actor's finished export and its file; one not ready, expired or gone is not found, and
    so is one whose rows the actor may no longer read (moved away, deactivated, lost the list)."""
    export = get_export(actor, pk)
    if export.status != ExportStatus.DONE or not export.file_name:
        raise NotFound()
    try:
        require_owner_may_download(export)
    except DomainError:  # access lost, or the source is no longer registered
        raise NotFound() from None
    path = export_directory(export.pk) / export.file_name
    if not path.is_file():
        raise NotFound()
    return export, path
