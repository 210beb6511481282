"""Postpaid bills (issue 18 point 5): what each of the login's postpaid accounts owes (arrears,
late fees, credit) and its bills, each as the back office's A4 bill PDF in the customer's
language. Every read goes through gridvend.logins.purchases: another customer's bill is 404."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gridvend.billing import documents
from gridvend.identity.errors import NotFound
from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.logins import purchases
from gridvend.logins import wallets as portal_wallets
from gridvend.logins.models import CustomerLogin
from gridvend.portal import forms as portal_forms
from gridvend.portal.views import _page, _refusal, customer_required
from gridvend.portal.wallet_forms import BillPayForm
from gridvend.wallet.selectors import balance, wallet_of


def _pay_form(account: purchases.AccountBills) -> BillPayForm:
    """The "pay from my wallet" form of one account, its amount what is due now."""
    due = Money(max(account.due.total_due_minor, 0), account.due.currency)
    return BillPayForm(
        currency=account.due.currency,
        initial={
            "amount": due.to_major() if due.is_positive() else "",
            "request_id": portal_forms.new_request_id(),
        },
    )


def _wallet_balance(account: purchases.AccountBills) -> str | None:
    found = wallet_of(account.customer)
    return balance(found).format() if found is not None else None


@never_cache
@customer_required
def bills(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    today = business_date(timezone.now(), settings.TIME_ZONE)
    accounts = [
        {
            "pay_form": _pay_form(account),
            "wallet_balance": _wallet_balance(account),
            "account": account,
            "total_due": Money(account.due.total_due_minor, account.due.currency).format(),
            "arrears": Money(account.due.arrears_minor, account.due.currency).format(),
            "late_fees": Money(account.due.late_fees_minor, account.due.currency).format(),
            "credit": Money(account.due.credit_minor, account.due.currency).format(),
            "bills": [
                (
                    bill,
                    Money(bill.amount_minor + bill.late_fee_minor, bill.currency).format(),
                    Money(max(bill.owed_minor, 0), bill.currency).format(),
                )
                for bill in account.bills
            ],
        }
        for account in purchases.postpaid_accounts(login, today=today)
    ]
    return _page(request, "bills.html", {"accounts": accounts, "today": today})


@never_cache
@customer_required
def bill_pdf(request: HttpRequest, login: CustomerLogin, pk: int) -> HttpResponse:
    try:
        bill = purchases.get_bill(login, pk)
    except NotFound:
        raise Http404() from None
    body = documents.bill_pdf(bill, translation.get_language() or "en")
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="bill-{bill.number}.pdf"'
    return response


@require_POST
@customer_required
def pay_from_wallet(request: HttpRequest, login: CustomerLogin, account: str) -> HttpResponse:
    """Pay one of the login's postpaid accounts from its customer's wallet; the receipt on the
    next page. A second submit of the same form answers the first payment; a wallet short of the
    amount is refused beside the form and nothing is written; another customer's account is 404."""
    owner = next(
        (
            found
            for found in purchases.postpaid_accounts(
                login, today=business_date(timezone.now(), settings.TIME_ZONE)
            )
            if found.customer.account_number == account[:20]
        ),
        None,
    )
    if owner is None:
        raise Http404()
    form = BillPayForm(request.POST, currency=owner.due.currency)
    if form.is_valid():
        data = form.cleaned_data
        try:
            _wallet, payment = portal_wallets.pay_bill_with_wallet(
                login=login,
                account_number=owner.customer.account_number,
                amount=Money.from_major(data["amount"], owner.due.currency),
                request_id=data["request_id"],
            )
        except NotFound:
            raise Http404() from None
        except DomainError as exc:
            _refusal(form, exc, None)
        else:
            return redirect(
                "portal:bill-paid", account=owner.customer.account_number, pk=payment.pk
            )
    context = {"a": owner, "form": form, "wallet_balance": _wallet_balance(owner)}
    return _page(request, "bill_pay.html", context, status=400)


@never_cache
@customer_required
def bill_paid(request: HttpRequest, login: CustomerLogin, account: str, pk: int) -> HttpResponse:
    """The receipt of a bill payment made from the wallet: what was paid, to which bills, what
    was kept as credit, and the wallet's balance after."""
    try:
        wallet, payment = portal_wallets.get_wallet_bill_payment(login, account, pk)
    except NotFound:
        raise Http404() from None
    allocations = [
        (allocation.bill, Money(allocation.amount_minor, payment.currency).format())
        for allocation in payment.allocations.filter(is_undone=False)
        .select_related("bill")
        .order_by("id")
    ]
    context = {
        "payment": payment,
        "amount": Money(payment.amount_minor, payment.currency).format(),
        "credit": Money(max(payment.credit_minor, 0), payment.currency).format(),
        "allocations": allocations,
        "wallet": wallet,
        "wallet_balance": balance(wallet).format(),
    }
    return _page(request, "bill_paid.html", context)
