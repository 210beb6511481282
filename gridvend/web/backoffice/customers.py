"""Back-office screens for customers, premises and debts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.customers import selectors as customer_selectors
from gridvend.customers import services as customer_services
from gridvend.customers.models import CustomerCategory, CustomerStatus, Debt, Premise
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.meters import history
from gridvend.org import selectors as org_selectors
from gridvend.tariffs import selectors as tariff_selectors
from gridvend.vending import selectors as vending_selectors
from gridvend.vending import statements
from gridvend.web.backoffice import access, exports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import show_error, unit_choices
from gridvend.web.backoffice.filtersets import (
    CustomerFilterSet,
    DebtFilterSet,
    PremiseFilterSet,
    StatementFilterSet,
)
from gridvend.web.filters import InvalidFilter
from gridvend.web.lists import ObjectList, actor
from gridvend.web.receipts.render import payment_method_label


def _tariff_choices(user: User) -> list[tuple[Any, str]]:
    seen: dict[int, str] = {}
    for tariff in tariff_selectors.tariffs_available_for_unit(user.org_unit):
        seen[tariff.pk] = f"{tariff.code} · {tariff.name}"
    for tariff in tariff_selectors.list_tariffs(user)[:2000]:
        seen[tariff.pk] = f"{tariff.code} · {tariff.name}"
    return sorted(seen.items(), key=lambda item: item[1])


def _pick_tariff(user: User, pk: int, form: Any) -> Any:
    """A tariff the user may choose (their subtree's or one above them), else a form error."""
    found = (
        tariff_selectors.list_tariffs(user).filter(pk=pk).first()
        or tariff_selectors.tariffs_available_for_unit(user.org_unit).filter(pk=pk).first()
    )
    if found is None:
        form.add_error("tariff", _("Choose a tariff from the list."))
    return found


# Customers ---------------------------------------------------------------------------------------


CUSTOMERS = ObjectList(
    name="customers",
    filterset=CustomerFilterSet,
    selector=customer_selectors.list_customers,
    columns=exports.CUSTOMER_COLUMNS,
    template="backoffice/customer_list.html",
    allowed=access.can_view_master_data,
    context=lambda user: {
        "categories": CustomerCategory.choices,
        "statuses": CustomerStatus.choices,
        "units": unit_choices(user),
        "can_edit": access.can_edit_customers(user),
    },
)
customer_list = CUSTOMERS.list_view()
customer_export = CUSTOMERS.export_view()


def _debt_rows(debts: list[Debt]) -> list[tuple[Debt, Money, Money]]:
    return [
        (d, Money(d.original_minor, d.currency), Money(d.balance_minor, d.currency)) for d in debts
    ]


@login_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    customer = customer_selectors.get_customer(user, pk)
    status_form = bo_forms.CustomerStatusForm(initial={"status": customer.status})
    if request.method == "POST":
        access.require(access.can_edit_customers(user))
        status_form = bo_forms.CustomerStatusForm(request.POST)
        if status_form.is_valid():
            try:
                customer_services.set_customer_status(
                    actor=user,
                    customer=customer,
                    status=status_form.cleaned_data["status"],
                    reason=status_form.cleaned_data["reason"],
                )
                messages.success(request, _("Status changed."))
                return redirect("backoffice:customer-detail", pk=customer.pk)
            except DomainError as exc:
                show_error(status_form, exc)
    debts = (
        list(customer_selectors.list_debts(user, customer)) if access.can_view_debts(user) else []
    )
    context = {
        "customer": customer,
        "meters": list(customer.meters.all()),
        "installations": list(history.customer_installations(user, customer)[:50]),
        "debts": _debt_rows(debts),
        "debt_balance": customer_selectors.debt_balance(customer),
        "sales": [
            (sale, Money(sale.tender_minor, sale.currency))
            for sale in vending_selectors.list_sales(user).filter(customer=customer)[:10]
        ],
        "status_form": status_form,
        "can_edit": access.can_edit_customers(user),
        "can_view_debts": access.can_view_debts(user),
        "can_open_debts": access.can_open_debts(user),
        "can_install": access.can_edit_meters(user),
    }
    return render(request, "backoffice/customer_detail.html", context)


@login_required
def customer_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_edit_customers(user))
    form = bo_forms.CustomerForm(
        request.POST or None, units=unit_choices(user), tariffs=_tariff_choices(user)
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        tariff = _pick_tariff(user, data.pop("tariff"), form)
        if tariff is not None:
            try:
                unit = org_selectors.get_unit(user, data.pop("org_unit"))
                customer = customer_services.create_customer(
                    actor=user, org_unit=unit, tariff=tariff, **data
                )
                messages.success(request, _("Customer created."))
                return redirect("backoffice:customer-detail", pk=customer.pk)
            except DomainError as exc:
                show_error(form, exc)
    return render(request, "backoffice/form_page.html", {"form": form, "title": _("New customer")})


@login_required
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    customer = customer_selectors.get_customer(user, pk)
    access.require(access.can_edit_customers(user))
    initial = {
        "name": customer.name,
        "category": customer.category,
        "org_unit": customer.org_unit_id,
        "tariff": customer.tariff_id,
        "national_id": customer.national_id,
        "phone": customer.phone,
        "email": customer.email,
    }
    form = bo_forms.CustomerForm(
        request.POST or None,
        initial=initial,
        units=unit_choices(user),
        tariffs=_tariff_choices(user),
        editing=True,
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        tariff = _pick_tariff(user, data.pop("tariff"), form)
        if tariff is not None:
            try:
                unit = org_selectors.get_unit(user, data.pop("org_unit"))
                customer_services.update_customer(
                    actor=user, customer=customer, org_unit=unit, tariff=tariff, **data
                )
                messages.success(request, _("Customer saved."))
                return redirect("backoffice:customer-detail", pk=customer.pk)
            except DomainError as exc:
                show_error(form, exc)
    title = _("Edit customer %(number)s") % {"number": customer.account_number}
    return render(request, "backoffice/form_page.html", {"form": form, "title": title})


# Premises ----------------------------------------------------------------------------------------


PREMISES = ObjectList(
    name="premises",
    filterset=PremiseFilterSet,
    selector=customer_selectors.list_premises,
    columns=exports.PREMISE_COLUMNS,
    template="backoffice/premise_list.html",
    allowed=access.can_view_master_data,
    context=lambda user: {
        "units": unit_choices(user),
        "can_edit": access.can_edit_customers(user),
    },
)
premise_list = PREMISES.list_view()
premise_export = PREMISES.export_view()


@login_required
def premise_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    premise = customer_selectors.get_premise(user, pk)
    return render(
        request,
        "backoffice/premise_detail.html",
        {
            "premise": premise,
            "installations": list(history.premise_installations(user, premise)[:50]),
            "can_edit": access.can_edit_customers(user),
        },
    )


def _premise_form(request: HttpRequest, user: User, premise: Premise | None) -> HttpResponse:
    initial: dict[str, Any] = {}
    if premise is not None:
        initial = {
            "org_unit": premise.org_unit_id,
            "address": premise.address,
            "latitude": premise.latitude,
            "longitude": premise.longitude,
            "feeder": premise.feeder,
            "transformer": premise.transformer,
        }
    form = bo_forms.PremiseForm(request.POST or None, initial=initial, units=unit_choices(user))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            unit = org_selectors.get_unit(user, data.pop("org_unit"))
            # An emptied coordinate is "" for the service (clear it), not None (leave it).
            for name in ("latitude", "longitude"):
                data[name] = "" if data[name] is None else data[name]
            if premise is None:
                premise = customer_services.create_premise(actor=user, org_unit=unit, **data)
                messages.success(request, _("Premise created."))
            else:
                customer_services.update_premise(actor=user, premise=premise, org_unit=unit, **data)
                messages.success(request, _("Premise saved."))
            return redirect("backoffice:premise-detail", pk=premise.pk)
        except DomainError as exc:
            show_error(form, exc)
    title = _("New premise") if premise is None else _("Edit premise")
    return render(request, "backoffice/form_page.html", {"form": form, "title": title})


@login_required
def premise_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_edit_customers(user))
    return _premise_form(request, user, None)


@login_required
def premise_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    premise = customer_selectors.get_premise(user, pk)
    access.require(access.can_edit_customers(user))
    return _premise_form(request, user, premise)


# Debts -------------------------------------------------------------------------------------------


DEBTS = ObjectList(
    name="debts",
    filterset=DebtFilterSet,
    selector=customer_selectors.list_all_debts,
    columns=exports.DEBT_COLUMNS,
    template="backoffice/debt_list.html",
    allowed=access.can_view_debts,
    context=lambda user: {"units": unit_choices(user)},
    rows=lambda user, page: _debt_rows(list(page)),
)
debt_list = DEBTS.list_view()
debt_export = DEBTS.export_view()


@login_required
def customer_debts(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_debts(user))
    customer = customer_selectors.get_customer(user, pk)
    return render(
        request,
        "backoffice/customer_debts.html",
        {
            "customer": customer,
            "rows": _debt_rows(list(customer_selectors.list_debts(user, customer))),
            "balance": customer_selectors.debt_balance(customer),
            "can_open_debts": access.can_open_debts(user),
        },
    )


@login_required
def debt_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_debts(user))
    customer = customer_selectors.get_customer(user, pk)
    access.require(access.can_open_debts(user))
    form = bo_forms.DebtForm(request.POST or None)
    currency = customer.tariff.currency
    if request.method == "POST" and form.is_valid():
        try:
            amount = Money.from_major(form.cleaned_data["amount"], currency)
            customer_services.open_debt(
                actor=user, customer=customer, amount=amount, reason=form.cleaned_data["reason"]
            )
            messages.success(request, _("Debt opened."))
            return redirect("backoffice:customer-debts", pk=customer.pk)
        except DomainError as exc:
            show_error(form, exc)
    title = _("Open a debt for %(number)s") % {"number": customer.account_number}
    return render(
        request,
        "backoffice/form_page.html",
        {
            "form": form,
            "title": title,
            "intro": _("Amount in %(currency)s.") % {"currency": currency},
        },
    )


# Statement ---------------------------------------------------------------------------------------


def _amount(money: Money | None) -> str:
    """A statement cell: the amount in major units with grouping; the currency heads the page."""
    if money is None:
        return ""
    sign = "-" if money.is_negative() else ""
    return f"{sign}{abs(money.to_major()):,}"


def _kwh(value: Decimal | None) -> str:
    return "" if value is None else f"{value.quantize(Decimal('0.1')):,}"


@login_required
def customer_statement(request: HttpRequest, pk: int) -> HttpResponse:
    """Every sale, reversal and debt movement of the customer in a period, printable."""
    user = actor(request)
    access.require(access.can_view_debts(user))
    customer = customer_selectors.get_customer(user, pk)
    filterset = StatementFilterSet(request.GET, actor=user, selector=vending_selectors.list_sales)
    period = filterset.values()
    if period["date_from"] and period["date_to"] and period["date_from"] > period["date_to"]:
        raise InvalidFilter(field="date_to", problem=_("The end is before the start."))
    statement = statements.customer_statement(
        user, customer, date_from=period["date_from"], date_to=period["date_to"]
    )
    premise = next((m.premise for m in customer.meters.all() if m.premise_id), None)
    return render(
        request,
        "backoffice/customer_statement.html",
        {
            "customer": customer,
            "premise": premise,
            "statement": statement,
            "rows": [
                (
                    line,
                    payment_method_label(line.sale.payment_method) if line.sale else "",
                    {
                        name: _amount(getattr(line, name))
                        for name in ("paid", "fixed", "tax", "energy", "debt", "debt_after")
                    },
                    _kwh(line.kwh),
                )
                for line in statement.lines
            ],
            "totals": {
                "opening": _amount(statement.opening_debt),
                "closing": _amount(statement.closing_debt),
                "net_paid": _amount(statement.net_paid),
                "kwh": _kwh(statement.total_kwh),
            },
            "filters": filterset.echo(),
            "printed_at": timezone.localtime(),
        },
    )
