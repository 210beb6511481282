"""Back-office screens for customers, premises and debts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.customers import selectors as customer_selectors
from gridvend.customers import services as customer_services
from gridvend.customers.models import (
    AccountKind,
    CustomerCategory,
    CustomerStatus,
    Debt,
    Premise,
)
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
from gridvend.web.backoffice.common import form_page, initial_from, show_error, unit_choices
from gridvend.web.backoffice.filtersets import (
    CustomerFilterSet,
    DebtFilterSet,
    PremiseFilterSet,
    StatementFilterSet,
)
from gridvend.web.filters import InvalidFilter
from gridvend.web.lists import ObjectList
from gridvend.web.receipts.render import payment_method_label
from gridvend.web.sessions import actor


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


# Ten pages of a search; a name shared by more people than that needs another word.
CUSTOMER_SEARCH_LIMIT = 500

CUSTOMERS = ObjectList(
    name="customers",
    filterset=CustomerFilterSet,
    selector=customer_selectors.list_customers,
    columns=exports.CUSTOMER_COLUMNS,
    template="backoffice/customer_list.html",
    # The selector's order (account numbers are unique): one index range scan per page.
    keyset=("account_number",),
    allowed=access.can_view_master_data,
    search_limit=CUSTOMER_SEARCH_LIMIT,
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

    def save(data: dict[str, Any]) -> str | None:
        tariff = _pick_tariff(user, data.pop("tariff"), form)
        if tariff is None:
            return None
        unit = org_selectors.get_unit(user, data.pop("org_unit"))
        data["account_kind"] = data.get("account_kind") or AccountKind.PREPAID
        data["language"] = data.get("language") or ""
        customer = customer_services.create_customer(
            actor=user, org_unit=unit, tariff=tariff, **data
        )
        return reverse("backoffice:customer-detail", kwargs={"pk": customer.pk})

    return form_page(
        request, form, title=_("New customer"), save=save, saved=_("Customer created.")
    )


@login_required
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_master_data(user))
    customer = customer_selectors.get_customer(user, pk)
    access.require(access.can_edit_customers(user))
    initial = initial_from(
        customer,
        "name",
        "category",
        "national_id",
        "phone",
        "email",
        "account_kind",
        "language",
        org_unit=customer.org_unit_id,
        tariff=customer.tariff_id,
    )
    form = bo_forms.CustomerForm(
        request.POST or None,
        initial=initial,
        units=unit_choices(user),
        tariffs=_tariff_choices(user),
        editing=True,
    )

    def save(data: dict[str, Any]) -> str | None:
        tariff = _pick_tariff(user, data.pop("tariff"), form)
        if tariff is None:
            return None
        unit = org_selectors.get_unit(user, data.pop("org_unit"))
        data["account_kind"] = data.get("account_kind") or None
        # A form sent without the field (an older page) leaves the language as it is.
        data["language"] = data.get("language", "") if "language" in request.POST else None
        customer_services.update_customer(
            actor=user, customer=customer, org_unit=unit, tariff=tariff, **data
        )
        return reverse("backoffice:customer-detail", kwargs={"pk": customer.pk})

    title = _("Edit customer %(number)s") % {"number": customer.account_number}
    return form_page(request, form, title=title, save=save, saved=_("Customer saved."))


# Premises ----------------------------------------------------------------------------------------


PREMISES = ObjectList(
    name="premises",
    filterset=PremiseFilterSet,
    selector=customer_selectors.list_premises,
    columns=exports.PREMISE_COLUMNS,
    template="backoffice/premise_list.html",
    keyset=("address", "id"),
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
        initial = initial_from(
            premise,
            "address",
            "latitude",
            "longitude",
            "feeder",
            "transformer",
            org_unit=premise.org_unit_id,
        )
    form = bo_forms.PremiseForm(request.POST or None, initial=initial, units=unit_choices(user))

    def save(data: dict[str, Any]) -> str:
        unit = org_selectors.get_unit(user, data.pop("org_unit"))
        # An emptied coordinate is "" for the service (clear it), not None (leave it).
        for name in ("latitude", "longitude"):
            data[name] = "" if data[name] is None else data[name]
        if premise is None:
            saved = customer_services.create_premise(actor=user, org_unit=unit, **data)
        else:
            saved = premise
            customer_services.update_premise(actor=user, premise=premise, org_unit=unit, **data)
        return reverse("backoffice:premise-detail", kwargs={"pk": saved.pk})

    if premise is None:
        return form_page(
            request, form, title=_("New premise"), save=save, saved=_("Premise created.")
        )
    return form_page(request, form, title=_("Edit premise"), save=save, saved=_("Premise saved."))


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
    keyset=("-opened_at", "-id"),
    allowed=access.can_view_debts,
    search_limit=CUSTOMER_SEARCH_LIMIT,
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

    def save(data: dict[str, Any]) -> str:
        amount = Money.from_major(data["amount"], currency)
        customer_services.open_debt(
            actor=user, customer=customer, amount=amount, reason=data["reason"]
        )
        return reverse("backoffice:customer-debts", kwargs={"pk": customer.pk})

    return form_page(
        request,
        form,
        title=_("Open a debt for %(number)s") % {"number": customer.account_number},
        intro=_("Amount in %(currency)s.") % {"currency": currency},
        save=save,
        saved=_("Debt opened."),
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
