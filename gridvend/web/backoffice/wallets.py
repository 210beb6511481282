"""Back-office screens of customers' prepaid wallets: the wallets of the user's part of the
organisation with their balances, one wallet's statement for a period, and finance's bank
transfers (import a statement file; credit a transfer no wallet was found for to the wallet a
person chooses). Every write goes through ``wallet.services``, which checks the actor again."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.kernel.errors import DomainError
from gridvend.wallet import permissions, services
from gridvend.wallet import selectors as wallet_selectors
from gridvend.wallet.models import BankTransfer, TransferState
from gridvend.wallet.services.transfers import MAX_FILE_BYTES
from gridvend.web.backoffice import access
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import show_error
from gridvend.web.sessions import actor

# The list shows this many wallets (the statement is where one wallet's detail is).
LIST_LIMIT = 200


@login_required
def wallet_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_wallets(user))
    wallets = list(wallet_selectors.list_wallets(user)[:LIST_LIMIT])
    rows = [(w, wallet_selectors.balance(w, fresh=False)) for w in wallets]
    return render(request, "backoffice/wallet_list.html", {"rows": rows, "limit": LIST_LIMIT})


@login_required
def wallet_detail(request: HttpRequest, reference: str) -> HttpResponse:
    """One wallet: its balance, its auto-purchase and its statement for a period (the last 30
    days unless asked)."""
    user = actor(request)
    access.require(permissions.can_view_wallets(user))
    wallet = wallet_selectors.get_wallet(user, reference)
    form = bo_forms.WalletStatementForm(request.GET or None)
    today = timezone.localdate()
    start, end = today - timedelta(days=30), today
    status = 200
    if request.GET:
        if form.is_valid():
            start = form.cleaned_data.get("start") or start
            end = form.cleaned_data.get("end") or end
            if end < start or (end - start).days > 365:
                start, end = end - timedelta(days=30), end
        else:
            status = 400
    statement = wallet_selectors.statement(wallet, start=start, end=end)
    context = {
        "wallet": wallet,
        "balance": wallet_selectors.balance(wallet),
        "form": form,
        "statement": statement,
    }
    return render(request, "backoffice/wallet_detail.html", context, status=status)


def _transfers_page(
    request: HttpRequest,
    upload: bo_forms.WalletTransferImportForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = actor(request)
    waiting = list(wallet_selectors.unmatched_transfers(user)[:LIST_LIMIT])
    context = {
        "upload": upload or bo_forms.WalletTransferImportForm(),
        "waiting": waiting,
        "credit_form": bo_forms.WalletTransferCreditForm(),
        "max_bytes": MAX_FILE_BYTES,
    }
    return render(request, "backoffice/wallet_transfers.html", context, status=status)


@login_required
def transfers(request: HttpRequest) -> HttpResponse:
    """The review list of unmatched transfers, and the import of a statement file (POST)."""
    user = actor(request)
    access.require(permissions.can_import_transfers(user))
    if request.method != "POST":
        return _transfers_page(request)
    form = bo_forms.WalletTransferImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            form.add_error(
                "file", _("The file is larger than %(size)s bytes.") % {"size": MAX_FILE_BYTES}
            )
        else:
            try:
                result = services.import_transfers(actor=user, data=upload.read(MAX_FILE_BYTES + 1))
            except DomainError as exc:
                show_error(form, exc, {"TRANSFER_FILE_INVALID": "file"})
            else:
                messages.success(
                    request,
                    _(
                        "%(matched)s transfers credited, %(unmatched)s waiting for review, "
                        "%(repeated)s already imported."
                    )
                    % {
                        "matched": result.matched,
                        "unmatched": result.unmatched,
                        "repeated": result.repeated,
                    },
                )
                return redirect("backoffice:wallet-transfers")
    return _transfers_page(request, form, status=400)


@login_required
@require_POST
def transfer_credit(request: HttpRequest, pk: int) -> HttpResponse:
    """Credit an unmatched transfer to the wallet a person chose."""
    user = actor(request)
    access.require(permissions.can_import_transfers(user))
    transfer = BankTransfer.objects.filter(pk=pk, state=TransferState.UNMATCHED).first()
    if transfer is None:
        messages.warning(request, _("This transfer is no longer waiting for review."))
        return redirect("backoffice:wallet-transfers")
    form = bo_forms.WalletTransferCreditForm(request.POST)
    if form.is_valid():
        # A wallet unknown or out of the user's scope answers 404 (WalletNotFound).
        wallet = wallet_selectors.get_wallet_for_credit(user, form.cleaned_data["wallet"])
        try:
            services.credit_unmatched_transfer(actor=user, transfer=transfer, wallet=wallet)
        except DomainError as exc:
            messages.error(request, str(exc.message))
            return redirect("backoffice:wallet-transfers")
        messages.success(request, _("The transfer is credited to the wallet."))
        return redirect("backoffice:wallet-transfers")
    messages.error(request, _("Give the wallet reference."))
    return redirect("backoffice:wallet-transfers")
