"""Back-office screens of the bank link: each bank's link status, its settings, the daily
reconciliations (upload, discrepancies resolved with a reason, closing the day) and the raw
messages (auditors only; hex and decoded text). Every write goes through
``banklink.services``, which checks the actor again."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from gridvend.banklink import permissions
from gridvend.banklink import selectors as banklink_selectors
from gridvend.banklink.errors import ReconciliationFileInvalid
from gridvend.banklink.models import LineKind, ReconciliationSource, ReconciliationStatus
from gridvend.banklink.services import links as link_services
from gridvend.banklink.services import reconciliation as reconciliation_services
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.partners import selectors as partner_selectors
from gridvend.web.backoffice import access
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, initial_from, show_error
from gridvend.web.backoffice.filtersets import BankReconciliationFilterSet, RawMessageFilterSet
from gridvend.web.lists import page_of, query_without_page
from gridvend.web.sessions import actor

RECENT = 200
HEX_BYTES = 16 * 1024  # of one message, shown as hex (larger ones are cut, and say so)


def _link_choices(user: User) -> list[tuple[int, str]]:
    return [
        (link.pk, f"{link.agency_id} · {link.partner.name}")
        for link in banklink_selectors.list_links(user)[:RECENT]
    ]


@login_required
def link_status(request: HttpRequest) -> HttpResponse:
    """Each bank's link: last message, today's counts and totals, open reconciliations."""
    user = actor(request)
    access.require(permissions.can_view_links(user))
    context = {
        "statuses": banklink_selectors.link_statuses(user),
        "can_read_raw": permissions.can_read_raw_messages(user),
        "can_reconcile": permissions.can_reconcile(user),
        "can_manage": permissions.can_manage_links(user),
    }
    return render(request, "backoffice/bank_link_status.html", context)


@login_required
def link_configure(request: HttpRequest, pk: int) -> HttpResponse:
    """A bank partner's link settings (created the first time)."""
    user = actor(request)
    access.require(permissions.can_manage_links(user))
    partner = partner_selectors.get_partner(user, pk)
    existing = getattr(partner, "bank_link", None)
    fields = link_services.LinkSettings.__dataclass_fields__
    initial = (
        initial_from(existing, *fields)
        if existing is not None
        else {name: spec.default for name, spec in fields.items() if name != "agency_id"}
    )
    for flag in ("binary_header", "length_includes_header"):
        initial[flag] = "1" if initial.get(flag) else "0"
    form = bo_forms.BankLinkForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> str:
        link_services.configure_link(
            actor=user, partner=partner, values=link_services.LinkSettings(**data)
        )
        return reverse("backoffice:bank-links")

    return form_page(
        request,
        form,
        title=_("Bank link of %(partner)s") % {"partner": partner.name},
        save=save,
        saved=_("The bank link was saved."),
        intro=_(
            "How this bank's front machine frames its messages. The link listens on its port "
            "once `gridvend banklink serve` is restarted."
        ),
    )


@login_required
def reconciliation_list(request: HttpRequest) -> HttpResponse:
    """The banks' reconciled days, and the upload of a day's file (finance)."""
    user = actor(request)
    access.require(permissions.can_view_links(user))
    can_reconcile = permissions.can_reconcile(user)
    form = bo_forms.BankReconciliationUploadForm(
        request.POST or None, request.FILES or None, links=_link_choices(user)
    )
    status = 200
    if request.method == "POST":
        access.require(can_reconcile)
        if form.is_valid():
            data = form.cleaned_data
            try:
                link = banklink_selectors.get_link(user, data["link"])
                upload = data["file"]
                # Measured before it is read into memory.
                if upload.size is None or upload.size > reconciliation_services.MAX_FILE_BYTES:
                    raise ReconciliationFileInvalid(problem="the file is larger than 2 MiB")
                recon = reconciliation_services.receive(
                    actor=user,
                    link=link,
                    bank_date=data["bank_date"],
                    rows=reconciliation_services.read_file(upload.read()),
                    source=ReconciliationSource.UPLOAD,
                )
            except DomainError as exc:
                show_error(form, exc, {"BANK_RECONCILIATION_FILE_INVALID": "file"})
                status = 400
            else:
                messages.success(request, _("The bank's day was compared with ours."))
                return redirect("backoffice:bank-reconciliation", pk=recon.pk)
        else:
            status = 400
    filterset = BankReconciliationFilterSet(
        request.GET, actor=user, selector=banklink_selectors.list_reconciliations
    )
    context = {
        "form": form,
        "can_reconcile": can_reconcile,
        "filters": filterset.form,
        "echo": filterset.echo(),
        "page": page_of(request, filterset.qs),
        "query": query_without_page(request),
    }
    return render(request, "backoffice/bank_reconciliations.html", context, status=status)


@login_required
def reconciliation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One bank day: the totals on both sides, each serial's line, and closing the day."""
    user = actor(request)
    access.require(permissions.can_view_links(user))
    recon = banklink_selectors.get_reconciliation(user, pk)
    can_reconcile = permissions.can_reconcile(user)
    error = ""
    if request.method == "POST":
        access.require(can_reconcile)
        try:
            reconciliation_services.close(actor=user, reconciliation=recon)
        except DomainError as exc:
            error = str(exc.message)
        else:
            messages.success(request, _("The day is closed and its payments reconciled."))
            return redirect("backoffice:bank-reconciliation", pk=recon.pk)
    lines = list(banklink_selectors.reconciliation_lines(recon)[:5000])
    context = {
        "recon": recon,
        "lines": lines,
        "discrepancies": [line for line in lines if line.kind != LineKind.MATCHED],
        "open_count": sum(
            1 for line in lines if line.kind != LineKind.MATCHED and line.resolved_at is None
        ),
        "is_open": recon.status == ReconciliationStatus.OPEN,
        "can_reconcile": can_reconcile,
        "error": error,
    }
    return render(
        request, "backoffice/bank_reconciliation.html", context, status=400 if error else 200
    )


@login_required
def discrepancy_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_reconcile(user))
    line = banklink_selectors.get_line(user, pk)
    form = bo_forms.DiscrepancyResolveForm(request.POST or None)

    def save(data: dict[str, Any]) -> str:
        reconciliation_services.resolve_discrepancy(actor=user, line=line, reason=data["reason"])
        return reverse("backoffice:bank-reconciliation", kwargs={"pk": line.reconciliation_id})

    return form_page(
        request,
        form,
        title=_("Resolve the discrepancy of bank serial %(serial)s") % {"serial": line.bank_serial},
        save=save,
        saved=_("The discrepancy is resolved."),
        intro=line.get_kind_display(),
    )


@login_required
def raw_message_list(request: HttpRequest) -> HttpResponse:
    """Every frame in and out, newest first (auditors only)."""
    user = actor(request)
    access.require(permissions.can_read_raw_messages(user))
    filterset = RawMessageFilterSet(
        request.GET, actor=user, selector=banklink_selectors.list_raw_messages
    )
    context = {
        "filters": filterset.form,
        "echo": filterset.echo(),
        "links": _link_choices(user),
        "page": page_of(request, filterset.qs),
        "query": query_without_page(request),
    }
    return render(request, "backoffice/bank_messages.html", context)


def _hex_lines(content: bytes) -> list[dict[str, str]]:
    rows = []
    for at in range(0, len(content), 16):
        chunk = content[at : at + 16]
        rows.append(
            {
                "offset": f"{at:04x}",
                "hex": " ".join(f"{b:02x}" for b in chunk),
                "text": "".join(chr(b) if 32 <= b < 127 else "." for b in chunk),
            }
        )
    return rows


@login_required
def raw_message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One frame as hex and as text decoded in its bank's character set."""
    user = actor(request)
    access.require(permissions.can_read_raw_messages(user))
    message = banklink_selectors.get_raw_message(user, pk)
    content = bytes(message.content)
    charset = message.link.charset if message.link is not None else "utf-8"
    context = {
        "message": message,
        "hex": _hex_lines(content[:HEX_BYTES]),
        "cut": len(content) > HEX_BYTES,
        "decoded": content[:HEX_BYTES].decode(charset, errors="replace"),
        "charset": charset,
    }
    return render(request, "backoffice/bank_message.html", context)
