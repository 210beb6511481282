"""My exports: the exports a person asked for, their progress, and the files to download.

Only the owner sees, downloads or deletes an export; anyone else's answers 404 like an object
outside their subtree. The table refreshes itself with htmx while an export is in progress.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.exports import selectors, services
from gridvend.web.caching import forbid_storing
from gridvend.web.sessions import actor

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _rows_context(request: HttpRequest) -> dict[str, object]:
    exports = list(selectors.list_exports(actor(request))[: selectors.MY_EXPORTS_LIMIT])
    return {
        "exports": exports,
        "in_progress": any(e.is_active for e in exports),
        "retention_days": settings.EXPORT_RETENTION_DAYS,
    }


@login_required
def export_list(request: HttpRequest) -> HttpResponse:
    return render(request, "web/export_list.html", _rows_context(request))


@login_required
def export_rows(request: HttpRequest) -> HttpResponse:
    """The table alone, for the page's polling while an export is in progress."""
    return render(request, "web/_export_rows.html", _rows_context(request))


@login_required
def export_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    user = actor(request)
    export, path = selectors.get_ready_file(user, pk)
    services.record_download(actor=user, export=export)
    content_type = XLSX_TYPE if export.format == "xlsx" else "text/csv; charset=utf-8"
    response = FileResponse(
        path.open("rb"), as_attachment=True, filename=export.file_name, content_type=content_type
    )
    return forbid_storing(response)


@require_POST
@login_required
def export_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.delete_export(actor=actor(request), pk=pk)
    messages.success(request, _("The export was deleted."))
    return redirect("web:export-list")
