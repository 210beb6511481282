"""Back-office screens of the conflicts found when the master applied a station's journal: the
list (by station, kind and status) and a conflict's page (the journal entry, the sale it became,
and resolving it with a note). Resolving goes through ``stations.services.conflicts``, which
checks the actor again."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from gridvend.kernel.errors import DomainError
from gridvend.stations import conflicts as selectors
from gridvend.stations.services import conflicts as services
from gridvend.web.backoffice import access
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.filtersets import StationConflictFilterSet
from gridvend.web.lists import page_of, query_without_page
from gridvend.web.sessions import actor


@login_required
def conflict_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(selectors.can_view_station_conflicts(user))
    filterset = StationConflictFilterSet(request.GET, actor=user, selector=selectors.list_conflicts)
    context = {
        "filters": filterset.form,
        "echo": filterset.echo(),
        "page": page_of(request, filterset.qs),
        "query": query_without_page(request),
    }
    return render(request, "backoffice/station_conflicts.html", context)


@login_required
def conflict_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(selectors.can_view_station_conflicts(user))
    conflict = selectors.get_conflict(user, pk)
    form = bo_forms.StationConflictResolveForm(request.POST or None)
    status = 200
    if request.method == "POST":
        access.require(selectors.can_resolve_station_conflicts(user))
        if form.is_valid():
            try:
                services.resolve_conflict(
                    actor=user, conflict=conflict, note=form.cleaned_data["note"]
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(request, _("The conflict was resolved."))
                return redirect("backoffice:station-conflict", pk=conflict.pk)
        else:
            status = 400
    try:
        entry = json.dumps(json.loads(conflict.entry.body), indent=2, ensure_ascii=False)
    except ValueError:
        entry = conflict.entry.body
    context = {
        "conflict": conflict,
        "entry_text": entry,
        "detail_text": json.dumps(conflict.detail, indent=2, ensure_ascii=False),
        "form": form,
        "can_resolve": selectors.can_resolve_station_conflicts(user),
    }
    return render(request, "backoffice/station_conflict.html", context, status=status)
