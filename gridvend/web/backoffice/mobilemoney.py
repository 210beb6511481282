"""Back-office screens of mobile money: the payments (status and filters), one payment with
its raw callbacks (auditors) and its suspense resolution (customer care sells it to the right
meter or asks for a refund; finance decides the refund), the providers' set-up with the
callback URLs to register, the daily totals and the reconciliations. Every write goes through
``mobilemoney.services``, which checks the actor again."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.approvals.models import RequestStatus
from gridvend.kernel.errors import DomainError
from gridvend.mobilemoney import permissions, services
from gridvend.mobilemoney import selectors as mobile_selectors
from gridvend.mobilemoney.models import PaymentSource, PaymentState, ReconciliationLineKind
from gridvend.mobilemoney.services import callback_urls
from gridvend.partners import selectors as partner_selectors
from gridvend.web.backoffice import access, exports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, initial_from, show_error
from gridvend.web.backoffice.filtersets import (
    MobilePaymentFilterSet,
    MobileReconciliationFilterSet,
    MobileTotalsFilterSet,
)
from gridvend.web.lists import ObjectList
from gridvend.web.sessions import actor

PAYMENTS = ObjectList(
    name="mobile-payments",
    filterset=MobilePaymentFilterSet,
    selector=mobile_selectors.list_payments,
    columns=[
        exports.Column("id", lambda p: p.pk),
        exports.Column("provider", lambda p: p.provider.code),
        exports.Column("trans_id", lambda p: p.trans_id),
        exports.Column("source", lambda p: p.source),
        exports.Column("account_ref", lambda p: p.account_ref),
        exports.Column("amount_minor", lambda p: p.amount_minor),
        exports.Column("currency", lambda p: p.currency),
        exports.Column("msisdn", lambda p: p.msisdn),
        exports.Column("paid_at", lambda p: p.paid_at),
        exports.Column("business_date", lambda p: p.business_date),
        exports.Column("state", lambda p: p.state),
        exports.Column("suspense_code", lambda p: p.suspense_code),
    ],
    template="backoffice/mobile_payments.html",
    allowed=permissions.can_view_payments,
    context=lambda user: {
        "providers": list(mobile_selectors.list_providers(user)[:100]),
        "states": PaymentState.choices,
        "sources": PaymentSource.choices,
    },
)
payment_list = PAYMENTS.list_view()


def _payment_context(request: HttpRequest, pk: int, **forms: Any) -> dict[str, Any]:
    user = actor(request)
    payment = mobile_selectors.get_payment(user, pk)
    can_read_raw = permissions.can_read_raw_callbacks(user)
    refunds = list(mobile_selectors.payment_refunds(payment))
    pending = next((r for r in refunds if r.status == RequestStatus.PENDING), None)
    is_suspense = payment.state == PaymentState.SUSPENSE
    can_resolve = permissions.can_resolve_suspense(user) and is_suspense
    return {
        "payment": payment,
        "callbacks": list(mobile_selectors.payment_callbacks(user, payment)[:50])
        if can_read_raw
        else [],
        "can_read_raw": can_read_raw,
        "refunds": refunds,
        "pending_refund": pending,
        "can_resolve": can_resolve,
        "can_decide": pending is not None and permissions.can_approve_refund(user),
        "resolve_form": forms.get("resolve_form") or bo_forms.MobileResolveForm(),
        "refund_form": forms.get("refund_form") or bo_forms.MobileRefundForm(),
        "decide_form": forms.get("decide_form") or bo_forms.MobileRefundDecisionForm(),
        "can_pay_back": permissions.can_resolve_suspense(user)
        # To be paid back by hand, or a reversal whose result never came (care records it).
        and payment.state in (PaymentState.REFUND_MANUAL, PaymentState.REFUNDING),
        "payback_form": forms.get("payback_form") or bo_forms.MobilePaybackForm(),
    }


@login_required
def payment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_payments(user))
    return render(request, "backoffice/mobile_payment.html", _payment_context(request, pk))


@login_required
@require_POST
def payment_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """Customer care sells a suspense payment to the meter the customer meant."""
    user = actor(request)
    access.require(permissions.can_resolve_suspense(user))
    payment = mobile_selectors.get_payment(user, pk)
    form = bo_forms.MobileResolveForm(request.POST)
    if form.is_valid():
        try:
            done = services.resolve_by_sale(
                actor=user,
                payment=payment,
                meter_number=form.cleaned_data["meter_number"],
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            show_error(form, exc, {"METER_NOT_FOUND": "meter_number"})
        else:
            if done.state == PaymentState.SOLD:
                messages.success(request, _("The payment is sold to the meter."))
            else:
                messages.warning(
                    request, _("The sale was refused: the payment is still in suspense.")
                )
            return redirect("backoffice:mobile-payment", pk=pk)
    context = _payment_context(request, pk, resolve_form=form)
    return render(request, "backoffice/mobile_payment.html", context, status=400)


@login_required
@require_POST
def payment_refund(request: HttpRequest, pk: int) -> HttpResponse:
    """Customer care asks for a suspense payment to go back; finance decides."""
    user = actor(request)
    access.require(permissions.can_resolve_suspense(user))
    payment = mobile_selectors.get_payment(user, pk)
    form = bo_forms.MobileRefundForm(request.POST)
    if form.is_valid():
        try:
            services.request_payment_refund(
                actor=user, payment=payment, reason=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            show_error(form, exc, {"REASON_REQUIRED": "reason"})
        else:
            messages.success(request, _("The refund awaits a second person's approval."))
            return redirect("backoffice:mobile-payment", pk=pk)
    context = _payment_context(request, pk, refund_form=form)
    return render(request, "backoffice/mobile_payment.html", context, status=400)


@login_required
@require_POST
def payment_payback(request: HttpRequest, pk: int) -> HttpResponse:
    """Customer care records the pay-back of an approved refund the provider could not
    reverse, with its reference."""
    user = actor(request)
    access.require(permissions.can_resolve_suspense(user))
    payment = mobile_selectors.get_payment(user, pk)
    form = bo_forms.MobilePaybackForm(request.POST)
    if form.is_valid():
        try:
            services.record_manual_refund(
                actor=user,
                payment=payment,
                reference=form.cleaned_data["refund_reference"],
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            show_error(form, exc, {"REASON_REQUIRED": "refund_reference"})
        else:
            messages.success(request, _("The payment is refunded."))
            return redirect("backoffice:mobile-payment", pk=pk)
    context = _payment_context(request, pk, payback_form=form)
    return render(request, "backoffice/mobile_payment.html", context, status=400)


@login_required
@require_POST
def refund_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Finance approves (the provider reverses the payment, or, with the reference of money
    already sent back by hand, it is refunded at once) or rejects a refund."""
    user = actor(request)
    access.require(permissions.can_approve_refund(user))
    refund = mobile_selectors.get_refund_request(user, pk)
    form = bo_forms.MobileRefundDecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["decision"] == "approve":
                services.approve_payment_refund(
                    actor=user,
                    request=refund,
                    refund_reference=data["refund_reference"],
                    note=data["note"],
                )
            else:
                services.reject_payment_refund(actor=user, request=refund, note=data["note"])
        except DomainError as exc:
            show_error(form, exc, {"REASON_REQUIRED": "note"})
        else:
            refund.payment.refresh_from_db()
            messages.success(request, _("The refund is decided."))
            if refund.payment.state == PaymentState.SUSPENSE:
                messages.warning(
                    request, _("The provider did not reverse it: the payment is back in suspense.")
                )
            return redirect("backoffice:mobile-payment", pk=refund.payment_id)
    context = _payment_context(request, refund.payment_id, decide_form=form)
    return render(request, "backoffice/mobile_payment.html", context, status=400)


@login_required
def provider_list(request: HttpRequest) -> HttpResponse:
    """The paybills and the callback URLs to register with the provider."""
    user = actor(request)
    access.require(permissions.can_view_payments(user))
    providers = list(mobile_selectors.list_providers(user)[:100])
    can_manage = permissions.can_manage_providers(user)
    context = {
        "rows": [
            {
                "provider": p,
                "urls": {k.replace("-", "_"): v for k, v in callback_urls(p).items()}
                if can_manage
                else {},
            }
            for p in providers
        ],
        "can_manage": can_manage,
        "aggregators": list(partner_selectors.list_partners(user).filter(kind="aggregator")[:100])
        if can_manage
        else [],
    }
    return render(request, "backoffice/mobile_providers.html", context)


@login_required
def provider_configure(request: HttpRequest, pk: int) -> HttpResponse:
    """An aggregator partner's paybill (created the first time)."""
    user = actor(request)
    access.require(permissions.can_manage_providers(user))
    partner = partner_selectors.get_partner(user, pk)
    existing = getattr(partner, "mobile_provider", None)
    fields = services.ProviderSettings.__dataclass_fields__
    if existing is not None:
        initial = initial_from(existing, *fields)
    else:
        initial = {
            "code": partner.code[:30],
            "name": partner.name,
            "kind": "daraja",
            "base_url": "https://api.safaricom.co.ke",
            "consumer_key_env": "GRIDVEND_MPESA_CONSUMER_KEY",
            "consumer_secret_env": "GRIDVEND_MPESA_CONSUMER_SECRET",
            "passkey_env": "GRIDVEND_MPESA_PASSKEY",
            "response_type": "Completed",
            "stk_timeout_seconds": 120,
            "is_enabled": True,
        }
    form = bo_forms.MobileProviderForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> str:
        services.configure_provider(
            actor=user, partner=partner, values=services.ProviderSettings(**data)
        )
        return reverse("backoffice:mobile-providers")

    return form_page(
        request,
        form,
        title=_("Mobile-money paybill of %(partner)s") % {"partner": partner.name},
        save=save,
        saved=_("The paybill was saved."),
        intro=_(
            "Sales from this paybill's payments draw on the partner's float. Credentials are "
            "read from the environment variables named here, never stored."
        ),
    )


@login_required
def daily_totals(request: HttpRequest) -> HttpResponse:
    """Count and sum per day, provider and status: the mobile channel's daily totals."""
    user = actor(request)
    access.require(permissions.can_view_payments(user))
    filterset = MobileTotalsFilterSet(
        request.GET, actor=user, selector=mobile_selectors.list_payments
    )
    context = {
        "filters": filterset.form,
        "echo": filterset.echo(),
        "totals": mobile_selectors.daily_totals(user, **filterset.values()),
    }
    return render(request, "backoffice/mobile_totals.html", context)


RECONCILIATIONS = ObjectList(
    name="mobile-reconciliations",
    filterset=MobileReconciliationFilterSet,
    selector=mobile_selectors.list_reconciliations,
    columns=[
        exports.Column("id", lambda r: r.pk),
        exports.Column("provider", lambda r: r.provider.code),
        exports.Column("business_date", lambda r: r.business_date),
        exports.Column("statement_count", lambda r: r.statement_count),
        exports.Column("statement_total_minor", lambda r: r.statement_total_minor),
        exports.Column("our_count", lambda r: r.our_count),
        exports.Column("our_total_minor", lambda r: r.our_total_minor),
        exports.Column("discrepancies", lambda r: r.discrepancies),
        exports.Column("currency", lambda r: r.currency),
    ],
    template="backoffice/mobile_reconciliations.html",
    allowed=permissions.can_view_payments,
    context=lambda user: {"providers": list(mobile_selectors.list_providers(user)[:100])},
)
reconciliation_list = RECONCILIATIONS.list_view()


@login_required
def reconciliation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_payments(user))
    recon = mobile_selectors.get_reconciliation(user, pk)
    lines = list(mobile_selectors.reconciliation_lines(recon)[:5000])
    context = {
        "recon": recon,
        "lines": lines,
        "discrepancies": [line for line in lines if line.kind != ReconciliationLineKind.MATCHED],
    }
    return render(request, "backoffice/mobile_reconciliation.html", context)
