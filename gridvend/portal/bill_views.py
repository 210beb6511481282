"""Postpaid bills (issue 18 point 5): what each of the login's postpaid accounts owes (arrears,
late fees, credit) and its bills, each as the back office's A4 bill PDF in the customer's
language. Every read goes through gridvend.logins.purchases: another customer's bill is 404."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache

from gridvend.billing import documents
from gridvend.identity.errors import NotFound
from gridvend.kernel.clock import business_date
from gridvend.kernel.money import Money
from gridvend.logins import purchases
from gridvend.logins.models import CustomerLogin
from gridvend.portal.views import _page, customer_required


@never_cache
@customer_required
def bills(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    today = business_date(timezone.now(), settings.TIME_ZONE)
    accounts = [
        {
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
