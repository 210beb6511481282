"""Bulk import screens (upload, dry run, confirm, templates) and exports of the org lists."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.identity.errors import NotFound
from gridvend.web.backoffice import access, exports, imports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.sessions import actor

# The rows of a dry run wait in the session (stored in the database, so any app server can take
# the confirmation) under a one-time token, so that what is confirmed is what was checked.
SESSION_KEY = "gv_import"


@login_required
def import_upload(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_import(user))
    form = bo_forms.ImportForm(request.POST or None, request.FILES or None, kinds=imports.KINDS)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        kind = form.cleaned_data["kind"]
        try:
            rows = imports.load(kind, upload.name, upload)
        except imports.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            report = imports.run_import(actor=user, kind=kind, rows=rows, commit=False)
            token = ""
            if report.ok:
                token = secrets.token_urlsafe(16)
                request.session[SESSION_KEY] = {
                    "token": token,
                    "kind": kind,
                    "name": upload.name,
                    "rows": [[number, row] for number, row in rows],
                }
            else:
                request.session.pop(SESSION_KEY, None)
            return render(
                request,
                "backoffice/import_report.html",
                {
                    "report": report,
                    "kind_label": imports.KINDS[kind],
                    "file_name": upload.name,
                    "token": token,
                },
            )
    return render(request, "backoffice/import_upload.html", {"form": form, "kinds": imports.KINDS})


def _claim_pending_import(request: HttpRequest) -> dict[str, Any] | None:
    """Take the checked rows out of the session for good, or None if the token does not match.

    Two confirmations of one dry run sent together (a double click, two tabs) each load the
    session before either has saved it, so both would see the rows. The session row is locked
    and rewritten without them in a transaction of its own, committed before the import runs:
    the second confirmation waits for the lock and then finds nothing to run.
    """
    # compare_digest refuses non-ASCII text with a TypeError: compare the UTF-8 bytes.
    given = request.POST.get("token", "").encode("utf-8", "replace")
    # Whatever happens, this request's copy of the session no longer holds the rows, so saving
    # it at the end of the response cannot put them back.
    request.session.pop(SESSION_KEY, None)
    store = request.session
    if store.session_key is None:
        return None
    with transaction.atomic():
        row = Session.objects.select_for_update().filter(session_key=store.session_key).first()
        data = store.decode(row.session_data) if row is not None else {}
        pending = data.pop(SESSION_KEY, None)
        if row is None or not pending:
            return None
        if not secrets.compare_digest(str(pending.get("token", "")).encode(), given):
            return None
        row.session_data = store.encode(data)
        row.save(update_fields=["session_data"])
    return dict(pending)


@login_required
@require_POST
def import_confirm(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_import(user))
    pending = _claim_pending_import(request)
    if pending is None:
        messages.error(request, _("That import was already done or has expired. Upload again."))
        return redirect("backoffice:import")
    rows = [(int(number), dict(row)) for number, row in pending["rows"]]
    report = imports.run_import(actor=user, kind=pending["kind"], rows=rows, commit=True)
    return render(
        request,
        "backoffice/import_report.html",
        {
            "report": report,
            "kind_label": imports.KINDS[pending["kind"]],
            "file_name": pending["name"],
            "token": "",
        },
    )


@login_required
def import_template(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    user = actor(request)
    access.require(access.can_import(user))
    if kind not in imports.COLUMNS or fmt not in exports.FORMATS:
        raise NotFound()
    header, example = imports.template_rows(kind)
    name = f"gridvend-{kind}-template"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerow(example)
        response = HttpResponse(
            "\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    columns = [exports.Column(key, _nth(i)) for i, key in enumerate(header)]
    return exports.xlsx_response(name, columns, [example])


def _nth(index: int) -> Callable[[list[str]], str]:
    return lambda row: row[index]
