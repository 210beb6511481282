"""The cashier screen's wallet top-up mode: find the customer (account number or wallet
reference), see the wallet's balance, take cash into it within the open shift (in the drawer
like a sale), print the receipt. The rules are the wallet services' (idempotent on the screen's
hidden reference; the wallet opened on its first top-up)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.vending.models import Shift
from gridvend.wallet import selectors as wallet_selectors
from gridvend.wallet import services as wallet_services
from gridvend.web.caching import no_store
from gridvend.web.cashier import forms
from gridvend.web.cashier.views import _cashier, on_shift, till
from gridvend.web.errors import describe


@till
@on_shift
def wallet_top_up(request: HttpRequest, actor: User, shift: Shift) -> HttpResponse:
    """Find the customer (``?account=``) and take cash into their wallet."""
    find = forms.WalletFindForm(request.GET or None)
    context: dict[str, Any] = {"shift": shift, "find": find, "error": "", "customer": None}
    account = ""
    if find.is_valid() and find.cleaned_data["account"]:
        account = find.cleaned_data["account"].upper()
    pay = forms.WalletTopUpForm(
        request.POST or None, initial={"client_reference": uuid.uuid4().hex}
    )
    if account:
        try:
            customer, wallet = wallet_selectors.find_customer_wallet(actor, account)
        except DomainError as exc:
            context["error"] = describe(exc)
            account = ""
        else:
            context.update(
                {
                    "customer": customer,
                    "wallet": wallet,
                    "balance": wallet_selectors.balance(wallet) if wallet is not None else None,
                }
            )
    if request.method == "POST" and account and pay.is_valid():
        customer = context["customer"]
        try:
            wallet = context["wallet"] or wallet_services.open_wallet(
                actor=actor, customer=customer
            )
            top_up = wallet_services.top_up_cash(
                actor=actor,
                wallet=wallet,
                amount=Money.from_major(pay.cleaned_data["amount"], wallet.currency),
                receipt=f"till-{pay.cleaned_data['client_reference']}",
            )
        except DomainError as exc:
            pay.add_error(None, describe(exc))
        else:
            return redirect(reverse("cashier:wallet-receipt", args=[top_up.pk]))
    context.update({"pay": pay, "account": account})
    status = 400 if request.method == "POST" else 200
    return render(request, "cashier/wallet_top_up.html", context, status=status)


@no_store
@till
def wallet_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable receipt of a wallet top-up the cashier's scope can read."""
    actor = _cashier(request)
    top_up = wallet_selectors.get_top_up(actor, pk)
    return render(
        request,
        "cashier/wallet_receipt.html",
        {
            "top_up": top_up,
            "amount": Money(top_up.amount_minor, top_up.currency),
            "balance": wallet_selectors.balance(top_up.wallet),
        },
    )
