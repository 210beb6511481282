"""The cashier screen's bill-payment mode: find a postpaid account, see what it owes and its open
bills, take cash within the open shift, print the receipt. The rules are the billing services'
(allocation oldest first, credit kept, idempotent on the screen's hidden reference)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from gridvend.billing import selectors as billing_selectors
from gridvend.billing import services as billing
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.vending.models import Shift
from gridvend.web.caching import no_store
from gridvend.web.cashier import forms
from gridvend.web.cashier.views import _cashier, on_shift, till
from gridvend.web.errors import describe


def _major(minor: int, currency: str) -> str:
    return str(Money(minor, currency).to_major())


def _due_context(actor: User, account: str) -> dict[str, Any]:
    due = billing_selectors.account_due(actor, account)
    cur = due.currency
    return {
        "due": due,
        "total_due": _major(due.total_due_minor, cur),
        "arrears": _major(due.arrears_minor, cur),
        "credit": _major(due.credit_minor, cur),
        "open_bills": [(b, _major(b.owed_minor, cur)) for b in due.open_bills],
    }


@till
@on_shift
def bills(request: HttpRequest, actor: User, shift: Shift) -> HttpResponse:
    """Find the account (``?account=``) and take a payment for it."""
    find = forms.BillAccountForm(request.GET or None)
    context: dict[str, Any] = {"shift": shift, "find": find, "error": ""}
    account = ""
    if find.is_valid() and find.cleaned_data["account"]:
        account = find.cleaned_data["account"].upper()
    pay = forms.BillPaymentForm(
        request.POST or None, initial={"client_reference": uuid.uuid4().hex}
    )
    if account:
        try:
            context.update(_due_context(actor, account))
        except DomainError as exc:
            context["error"] = describe(exc)
            account = ""
    if request.method == "POST" and account and pay.is_valid():
        due = context["due"]
        try:
            payment = billing.take_payment(
                actor=actor,
                account_number=account,
                amount_minor=Money.from_major(pay.cleaned_data["amount"], due.currency).minor,
                currency=due.currency,
                channel=shift.vending_point.channel,
                source_reference=f"till-{pay.cleaned_data['client_reference']}",
                vending_point=shift.vending_point,
                shift=shift,
            )
        except DomainError as exc:
            # take_payment is one transaction: a refusal booked nothing, so the next try is a
            # payment of its own under a fresh reference (the old one may name a payment of
            # another amount, and would be refused again whatever the cashier corrects).
            data = request.POST.copy()
            data["client_reference"] = uuid.uuid4().hex
            pay = forms.BillPaymentForm(data)
            pay.is_valid()
            pay.add_error(None, describe(exc))
        else:
            return redirect(reverse("cashier:bill-receipt", args=[payment.pk]))
    context.update({"pay": pay, "account": account})
    status = 400 if request.method == "POST" else 200
    return render(request, "cashier/bills.html", context, status=status)


@no_store
@till
def bill_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable receipt of a bill payment the cashier's scope can read."""
    actor = _cashier(request)
    payment = billing_selectors.get_payment(actor, pk)
    cur = payment.currency
    due = _due_context(actor, payment.customer.account_number)
    return render(
        request,
        "cashier/bill_receipt.html",
        {
            "payment": payment,
            "amount": _major(payment.amount_minor, cur),
            "credit": _major(payment.credit_minor, cur),
            "allocations": [
                (a, _major(a.amount_minor, cur))
                for a in payment.allocations.select_related("bill").order_by("id")
            ],
            **due,
        },
    )
