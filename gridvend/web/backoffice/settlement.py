"""Back-office screens for partners' settlement: upload a day's file, the reconciliation report
(summary and items by status), resolving an item, and deciding a resolution that needs a second
person. Every write goes through ``partners.services``, which checks the actor again."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.partners import services as partner_services
from gridvend.partners import settlement_files
from gridvend.partners import settlement_selectors as selectors
from gridvend.partners.errors import SettlementFileTooLarge
from gridvend.partners.models import (
    MISMATCHED,
    ItemStatus,
    SettlementFile,
    SettlementItem,
    SettlementResolutionRequest,
)
from gridvend.partners.services.reconciliation import approval_threshold_minor
from gridvend.web.backoffice import access
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import show_error
from gridvend.web.backoffice.filtersets import SettlementItemFilterSet
from gridvend.web.lists import page_of, query_without_page
from gridvend.web.sessions import actor

# What the screens list at most of each kind (the files list is paged).
RECENT = 200


def _partner_choices(user: User) -> list[tuple[int, str]]:
    return [(p.pk, f"{p.code} · {p.name}") for p in selectors.list_partners(user)[:RECENT]]


@login_required
def settlement_home(request: HttpRequest) -> HttpResponse:
    """Upload a file (finance), the files received, days without one, pending resolutions."""
    user = actor(request)
    access.require(access.can_view_settlement(user))
    can_settle = access.can_settle(user)
    form = bo_forms.SettlementUploadForm(
        request.POST or None, request.FILES or None, partners=_partner_choices(user)
    )
    if request.method == "POST":
        access.require(can_settle)
        if form.is_valid():
            data = form.cleaned_data
            try:
                partner = selectors.get_partner(user, data["partner"])
                upload = data["file"]
                # Measured before it is read into memory.
                if upload.size is None or upload.size > settlement_files.MAX_BYTES:
                    raise SettlementFileTooLarge(max_bytes=settlement_files.MAX_BYTES)
                reconciled = partner_services.upload_settlement_file(
                    actor=user,
                    partner=partner,
                    business_date=data["business_date"],
                    content=upload.read(),
                    filename=upload.name or "",
                )
            except DomainError as exc:
                show_error(form, exc, {"SETTLEMENT_DATE_INVALID": "business_date"})
                problems = exc.params.get("problems") or []
                return render(
                    request,
                    "backoffice/settlement_home.html",
                    _home_context(request, user, form, can_settle, problems),
                    status=400,
                )
            messages.success(request, _("The file was reconciled."))
            return redirect("backoffice:settlement-file", pk=reconciled.pk)
    return render(
        request,
        "backoffice/settlement_home.html",
        _home_context(request, user, form, can_settle, []),
    )


def _home_context(
    request: HttpRequest, user: User, form: Any, can_settle: bool, problems: list[Any]
) -> dict[str, Any]:
    return {
        "form": form,
        "can_settle": can_settle,
        "problems": problems,
        "page": page_of(request, selectors.list_files(user)),
        "query": query_without_page(request),
        "missing": list(selectors.list_missing_days(user)[:RECENT]),
        "pending": list(selectors.list_pending_resolutions(user)[:RECENT]),
    }


def _summary_rows(upload: SettlementFile) -> list[dict[str, Any]]:
    statuses = (upload.summary or {}).get("statuses", {})
    return [
        {
            "status": status,
            "label": status.label,
            "count": statuses.get(status.value, {}).get("count", 0),
            "file_minor": statuses.get(status.value, {}).get("file_minor", 0),
            "our_minor": statuses.get(status.value, {}).get("our_minor", 0),
            "mismatched": status in MISMATCHED,
        }
        for status in ItemStatus
    ]


@login_required
def settlement_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The reconciliation report: the totals and how they tie, and the items by status."""
    user = actor(request)
    access.require(access.can_view_settlement(user))
    upload = selectors.get_file(user, pk)

    def items(actor_: User, **filters: Any) -> Any:
        found = selectors.list_items(actor_, upload)
        if filters.get("status"):
            found = found.filter(status=filters["status"])
        if filters.get("resolution"):
            found = found.filter(resolution=filters["resolution"])
        return found

    filterset = SettlementItemFilterSet(request.GET, actor=user, selector=items)
    summary = upload.summary or {}
    by = summary.get("statuses", {})
    mismatched = summary.get("mismatched", {})
    context = {
        "upload": upload,
        "rows": _summary_rows(upload),
        "mismatched": mismatched,
        "ties": {
            "file_parts": by.get("matched", {}).get("file_minor", 0)
            + mismatched.get("file_minor", 0)
            + by.get("missing_here", {}).get("file_minor", 0),
            "our_parts": by.get("matched", {}).get("our_minor", 0)
            + mismatched.get("our_minor", 0)
            + by.get("missing_there", {}).get("our_minor", 0),
        },
        "page": page_of(request, filterset.qs),
        "filters": filterset.echo(),
        "query": query_without_page(request),
        "statuses": ItemStatus.choices,
        "resolutions": SettlementItemFilterSet.base_filters["resolution"].extra["choices"],
        "can_settle": access.can_settle(user),
    }
    return render(request, "backoffice/settlement_file.html", context)


@login_required
def settlement_item_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_settle(user))
    item: SettlementItem = selectors.get_item(user, pk)
    form = bo_forms.SettlementResolveForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                done = partner_services.resolve_item(
                    actor=user,
                    item=item,
                    action=form.cleaned_data["action"],
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                show_error(form, exc, {"REASON_REQUIRED": "note"})
            else:
                if isinstance(done, SettlementResolutionRequest):
                    messages.info(
                        request,
                        _("The resolution awaits a second person's approval."),
                    )
                else:
                    messages.success(request, _("The item was resolved."))
                return redirect("backoffice:settlement-file", pk=item.file_id)
        status = 400
    context = {
        "item": item,
        "form": form,
        "threshold": approval_threshold_minor(),
    }
    return render(request, "backoffice/settlement_item.html", context, status=status)


@login_required
def settlement_resolution_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_settle(user))
    proposal = selectors.get_resolution_request(user, pk)
    form = bo_forms.SettlementDecisionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            note = form.cleaned_data["note"]
            try:
                if form.cleaned_data["decision"] == "approve":
                    partner_services.approve_resolution(actor=user, request=proposal, note=note)
                    messages.success(request, _("The resolution was approved and carried out."))
                else:
                    partner_services.reject_resolution(actor=user, request=proposal, note=note)
                    messages.success(request, _("The resolution was rejected."))
            except DomainError as exc:
                show_error(form, exc, {"REASON_REQUIRED": "note"})
            else:
                return redirect("backoffice:settlement-file", pk=proposal.item.file_id)
        status = 400
    context = {"proposal": proposal, "item": proposal.item, "form": form}
    return render(request, "backoffice/settlement_decide.html", context, status=status)
