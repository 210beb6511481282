"""Back-office screens for postpaid billing: billing runs (preview, send for approval, approve or
reject, discard, cancel), bills (keyset list with typed filters, one bill, its PDF), payments
(list, one payment, same-day cancel) and arrears by age per unit. The rules are the billing
services'."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from gridvend.approvals.models import RequestStatus
from gridvend.billing import documents, permissions, selectors, services
from gridvend.billing.errors import AccountNotPostpaid
from gridvend.billing.models import (
    BillingRun,
    BillPayment,
    BillStatus,
    PaymentStatus,
    RunAction,
    RunDecision,
    RunStatus,
)
from gridvend.customers import selectors as customer_selectors
from gridvend.customers.models import AccountKind
from gridvend.identity.errors import NotFound, ValidationFailed
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.readings import selectors as reading_selectors
from gridvend.web.backoffice import access, exports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, show_error, unit_choices, unit_filter
from gridvend.web.backoffice.filtersets import (
    BillFilterSet,
    BillingRunFilterSet,
    BillPaymentFilterSet,
)
from gridvend.web.errors import describe
from gridvend.web.lists import ObjectList
from gridvend.web.sessions import actor

MAX_BOOK_CHOICES = 500
PDF_LANGUAGES = documents.PDF_LANGUAGES
bill_context = documents.bill_context


def money(minor: int, currency: str) -> str:
    return str(Money(minor, currency).to_major())


# Runs -------------------------------------------------------------------------------------------

RUN_COLUMNS = [
    exports.Column("id", lambda r: r.pk),
    exports.Column("book_code", lambda r: r.book.code),
    exports.Column("period_start", lambda r: r.period_start),
    exports.Column("period_end", lambda r: r.period_end),
    exports.Column("status", lambda r: r.status),
    exports.Column("bills", lambda r: r.bill_count),
    exports.Column("total_minor", lambda r: r.total_minor),
    exports.Column("currency", lambda r: r.currency),
]

RUNS = ObjectList(
    name="billing-runs",
    filterset=BillingRunFilterSet,
    selector=selectors.list_runs,
    columns=RUN_COLUMNS,
    template="backoffice/billing_run_list.html",
    keyset=("-id",),
    allowed=permissions.can_view_billing,
    context=lambda user: {
        "units": unit_choices(user),
        "statuses": RunStatus.choices,
        "can_run": permissions.can_run_billing(user),
    },
)
run_list = RUNS.list_view()


def _book_choices(user: User) -> list[tuple[Any, str]]:
    books = reading_selectors.list_books(user)[:MAX_BOOK_CHOICES]
    return [(b.pk, f"{b.code} {b.name}") for b in books]


@login_required
def run_create(request: HttpRequest) -> HttpResponse:
    """Preview a book's bills for a period: computed and kept, nothing posted."""
    user = actor(request)
    access.require(permissions.can_run_billing(user))
    form = bo_forms.BillingRunForm(request.POST or None, books=_book_choices(user))

    def save(data: dict[str, Any]) -> str:
        run = services.preview_run(
            actor=user,
            book=reading_selectors.get_book(user, data["book"]),
            period_start=data["period_start"],
            period_end=data["period_end"],
            due_days=data["due_days"],
        )
        return reverse("backoffice:billing-run-detail", kwargs={"pk": run.pk})

    return form_page(
        request,
        form,
        title=_("Preview a billing run"),
        intro=_(
            "The book's postpaid meters are billed from their readings of the period; nothing "
            "is posted until a second finance person approves."
        ),
        save=save,
        saved=_("Billing run previewed."),
    )


def _pending(run: BillingRun) -> RunDecision | None:
    return (
        RunDecision.objects.filter(run=run, status=RequestStatus.PENDING)
        .select_related("requested_by")
        .first()
    )


def _adjust(user: User, run: BillingRun, data: dict[str, Any]) -> str:
    bill = run.bills.filter(pk=data["bill"] or 0).first()
    if bill is None:
        raise NotFound()
    if data["amount"] is None:
        raise ValidationFailed(_("Enter the adjustment's amount."), field="amount")
    minor = Money.from_major(data["amount"], bill.currency).minor
    services.adjust_bill(
        actor=user,
        bill=bill,
        label=data["label"],
        amount_minor=-minor if data["direction"] == "credit" else minor,
    )
    return _("Bill adjusted.")


def _act(user: User, run: BillingRun, data: dict[str, Any]) -> str:
    """Do what the run page's button asks; returns the message to show."""
    action, note = data["action"], data["note"]
    if action == "adjust":
        return _adjust(user, run, data)
    if action == "request":
        services.request_posting(actor=user, run=run)
        return _("Sent for approval.")
    if action == "discard":
        services.discard_run(actor=user, run=run, reason=note)
        return _("Billing run discarded.")
    if action == "cancel":
        services.request_cancellation(actor=user, run=run, reason=note)
        return _("Cancellation sent for approval.")
    decision = _pending(run)
    if decision is None:
        raise NotFound()
    if action == "approve":
        services.approve_run_decision(actor=user, decision=decision, note=note)
        return _("Approved.")
    services.reject_run_decision(actor=user, decision=decision, note=note)
    return _("Rejected.")


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A run's totals, bills and exceptions, and the buttons of its next step."""
    user = actor(request)
    access.require(permissions.can_view_billing(user))
    run = selectors.get_run(user, pk)
    form = bo_forms.RunActionForm(request.POST or None)
    if request.method == "POST":
        access.require(permissions.can_run_billing(user))
        if form.is_valid():
            try:
                done = _act(user, run, dict(form.cleaned_data))
            except DomainError as exc:
                show_error(form, exc, {"REASON_REQUIRED": "note"})
            else:
                messages.success(request, done)
                return redirect("backoffice:billing-run-detail", pk=run.pk)
    bills = list(selectors.run_bills(run)[:1000])
    return render(
        request,
        "backoffice/billing_run_detail.html",
        {
            "run": run,
            "bills": [(b, money(b.amount_minor, b.currency)) for b in bills],
            "total": money(run.total_minor, run.currency),
            "pending": _pending(run),
            "form": form,
            "can_run": permissions.can_run_billing(user),
            "is_previewed": run.status == RunStatus.PREVIEWED,
            "is_posted": run.status == RunStatus.POSTED,
            "post_action": RunAction.POST,
        },
    )


# Bills ------------------------------------------------------------------------------------------

BILL_COLUMNS = [
    exports.Column("number", lambda b: b.number),
    exports.Column("account_number", lambda b: b.customer.account_number),
    exports.Column("meter_number", lambda b: b.meter.number),
    exports.Column("period_start", lambda b: b.period_start),
    exports.Column("period_end", lambda b: b.period_end),
    exports.Column("issue_date", lambda b: b.issue_date),
    exports.Column("due_date", lambda b: b.due_date),
    exports.Column("consumption_kwh", lambda b: b.consumption_kwh),
    exports.Column("amount_minor", lambda b: b.amount_minor),
    exports.Column("late_fee_minor", lambda b: b.late_fee_minor),
    exports.Column("paid_minor", lambda b: b.paid_minor),
    exports.Column("status", lambda b: b.status),
    exports.Column("estimated", lambda b: b.is_estimated),
]

BILLS = ObjectList(
    name="bills",
    filterset=BillFilterSet,
    selector=selectors.list_bills,
    columns=BILL_COLUMNS,
    template="backoffice/bill_list.html",
    keyset=("-issue_date", "-id"),
    allowed=permissions.can_view_billing,
    context=lambda user: {"units": unit_choices(user), "statuses": BillStatus.choices},
)
bill_list = BILLS.list_view()
bill_export = BILLS.export_view()


@login_required
def bill_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_billing(user))
    bill = selectors.get_bill(user, pk)
    return render(
        request,
        "backoffice/bill_detail.html",
        {**bill_context(bill), "languages": PDF_LANGUAGES},
    )


@login_required
def bill_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The bill as an A4 PDF in the asked language (``?lang=``: en, ar, zh-hans)."""
    user = actor(request)
    access.require(permissions.can_view_billing(user))
    bill = selectors.get_bill(user, pk)
    if bill.status in (BillStatus.DRAFT, BillStatus.DISCARDED):
        raise NotFound()
    language = str(request.GET.get("lang", ""))[:10] or translation.get_language() or "en"
    body = documents.bill_pdf(bill, language)
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="bill-{bill.number}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


# Payments ---------------------------------------------------------------------------------------

PAYMENT_COLUMNS = [
    exports.Column("id", lambda p: p.pk),
    exports.Column("account_number", lambda p: p.customer.account_number),
    exports.Column("paid_at", lambda p: p.paid_at),
    exports.Column("business_date", lambda p: p.business_date),
    exports.Column("amount_minor", lambda p: p.amount_minor),
    exports.Column("allocated_minor", lambda p: p.allocated_minor),
    exports.Column("currency", lambda p: p.currency),
    exports.Column("channel", lambda p: p.channel),
    exports.Column("reference", lambda p: p.source_reference),
    exports.Column("status", lambda p: p.status),
    exports.Column("reconciled_at", lambda p: p.reconciled_at),
]

PAYMENTS = ObjectList(
    name="bill-payments",
    filterset=BillPaymentFilterSet,
    selector=selectors.list_payments,
    columns=PAYMENT_COLUMNS,
    template="backoffice/bill_payment_list.html",
    keyset=("-paid_at", "-id"),
    allowed=permissions.can_view_billing,
    context=lambda user: {"units": unit_choices(user), "statuses": PaymentStatus.choices},
)
payment_list = PAYMENTS.list_view()


@login_required
def payment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One payment, the bills it paid, and a supervisor's same-day cancel."""
    user = actor(request)
    access.require(permissions.can_view_billing(user))
    payment: BillPayment = selectors.get_payment(user, pk)
    may_cancel = permissions.can_cancel_payment(user, is_partner_service=False)
    form = bo_forms.PaymentCancelForm(request.POST or None)
    if request.method == "POST":
        access.require(may_cancel)
        if form.is_valid():
            try:
                services.cancel_payment(
                    actor=user, payment=payment, reason=form.cleaned_data["reason"]
                )
            except DomainError as exc:
                show_error(form, exc, {"REASON_REQUIRED": "reason"})
            else:
                messages.success(request, _("Payment cancelled."))
                return redirect("backoffice:bill-payment-detail", pk=payment.pk)
    cur = payment.currency
    # Why it cannot be cancelled now (a credit note, a recovery, another day, reconciled, the
    # bank's day being reconciled), asked the way the cancel itself asks: the button is shown
    # only when pressing it could work.
    not_cancellable = ""
    if may_cancel and payment.status == PaymentStatus.RECEIVED:
        try:
            services.require_cancellable(payment)
        except DomainError as refusal:
            not_cancellable = describe(refusal)
    return render(
        request,
        "backoffice/bill_payment_detail.html",
        {
            "payment": payment,
            "amount": money(payment.amount_minor, cur),
            "credit": money(payment.credit_minor, cur),
            "allocations": [
                (a, money(a.amount_minor, cur))
                for a in payment.allocations.select_related("bill").order_by("id")
            ],
            "form": form,
            "may_cancel": may_cancel
            and payment.status == PaymentStatus.RECEIVED
            and not not_cancellable,
            "not_cancellable": not_cancellable,
        },
    )


# Arrears ----------------------------------------------------------------------------------------


@login_required
def arrears(request: HttpRequest) -> HttpResponse:
    """What open bills owe under a unit, by days past due, and the oldest bills in arrears."""
    user = actor(request)
    access.require(permissions.can_view_billing(user))
    unit = unit_filter(request, user)
    aged = selectors.ageing(user, unit=unit)
    cur = aged.currency
    oldest = list(selectors.bills_in_arrears(user, unit=unit, today=services.business_today())[:50])
    return render(
        request,
        "backoffice/billing_arrears.html",
        {
            "units": unit_choices(user),
            "filters": {"unit": str(unit.pk) if unit is not None else ""},
            "aged": aged,
            "current": money(aged.current_minor, cur),
            "buckets": [money(b, cur) for b in aged.buckets],
            "arrears_total": money(aged.arrears_minor, cur),
            "oldest": [(b, money(b.owed_minor, b.currency)) for b in oldest],
        },
    )


@login_required
def account_arrears(request: HttpRequest, pk: int) -> HttpResponse:
    """One postpaid account: what it owes, its open bills and, for an account of kind "both",
    its arrears handed to the prepaid side (debts its token purchases recover), with finance's
    confirmed action to hand over what is past due and not yet there."""
    user = actor(request)
    access.require(permissions.can_view_billing(user))
    customer = customer_selectors.get_customer(user, pk)
    try:
        due = selectors.account_due(user, customer.account_number)
    except AccountNotPostpaid:
        raise NotFound() from None
    today = services.business_today()
    is_linked = customer.account_kind == AccountKind.BOTH
    may_hand = is_linked and permissions.can_run_billing(user)
    form = bo_forms.ArrearsHandoverForm(request.POST or None)
    if request.method == "POST":
        access.require(permissions.can_run_billing(user))
        if form.is_valid():
            try:
                debt = services.transfer_arrears_to_debt(actor=user, customer=customer, today=today)
            except DomainError as exc:
                show_error(form, exc, {})
            else:
                if debt is None:
                    messages.info(request, _("Nothing new to hand over."))
                else:
                    messages.success(
                        request,
                        _("%(amount)s handed to the prepaid side.")
                        % {"amount": money(debt.original_minor, debt.currency)},
                    )
                return redirect("backoffice:billing-account", pk=customer.pk)
    cur = due.currency
    handover = selectors.prepaid_handover(customer, today=today)
    debts = list(selectors.arrears_debts(customer)[:50]) if is_linked else []
    return render(
        request,
        "backoffice/billing_account.html",
        {
            "customer": customer,
            "total_due": money(due.total_due_minor, cur),
            "arrears": money(due.arrears_minor, cur),
            "credit": money(due.credit_minor, cur),
            "currency": cur,
            "bills": [(b, money(b.owed_minor, cur)) for b in due.open_bills[:100]],
            "is_linked": is_linked,
            "with_prepaid": money(handover.with_prepaid_minor, cur),
            "to_hand": money(handover.to_hand_minor, cur),
            "debts": [(d, money(d.balance_minor, d.currency)) for d in debts],
            "form": form,
            "may_hand": may_hand and handover.to_hand_minor > 0,
        },
    )
