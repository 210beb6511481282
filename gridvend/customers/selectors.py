"""Scoped reads of customers, premises and debts for screens, the API and other services."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet, Sum

from gridvend.customers.models import Customer, Debt, Premise
from gridvend.customers.search import matching, read_search
from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, require_unit_in_scope, scoped
from gridvend.kernel.money import Money
from gridvend.meters.models import Meter
from gridvend.org.models import OrgUnit


def _customers(actor: User) -> QuerySet[Customer]:
    return (
        scoped(Customer.objects.all(), actor)
        .select_related("org_unit", "tariff")
        .prefetch_related(Prefetch("meters", queryset=Meter.objects.order_by("number")))
    )


def list_customers(
    actor: User,
    *,
    search: str = "",
    category: str = "",
    status: str = "",
    unit: OrgUnit | None = None,
) -> QuerySet[Customer]:
    """Customers in scope, with org unit, tariff and meters loaded in a fixed number of queries.

    ``search`` is read by :func:`gridvend.customers.search.classify`: a meter number, an account
    number prefix, a national id, a phone number written any way ("0745 275 900" finds
    +254745275900, as do its last six or more digits) or the words of a name in any order.
    """
    queryset = _customers(actor)
    if unit is not None:
        require_unit_in_scope(actor, unit)
        queryset = queryset.filter(org_unit__path__startswith=unit.path)
    if category:
        queryset = queryset.filter(category=category)
    if status:
        queryset = queryset.filter(status=status)
    if search.strip():
        queryset = matching(queryset, read_search(search))
    return queryset.order_by("account_number")


def get_customer(actor: User, pk: int) -> Customer:
    return get_scoped(_customers(actor), actor, pk=pk)


def get_customer_by_account(actor: User, account_number: str) -> Customer:
    return get_scoped(_customers(actor), actor, account_number=account_number.strip().upper())


def list_premises(
    actor: User, *, search: str = "", unit: OrgUnit | None = None
) -> QuerySet[Premise]:
    """Premises in scope; ``search`` matches address, feeder or transformer."""
    queryset = scoped(Premise.objects.all(), actor).select_related("org_unit")
    if unit is not None:
        require_unit_in_scope(actor, unit)
        queryset = queryset.filter(org_unit__path__startswith=unit.path)
    text = search.strip()
    if text:
        queryset = queryset.filter(
            Q(address__icontains=text) | Q(feeder__iexact=text) | Q(transformer__iexact=text)
        )
    return queryset.order_by("address", "id")


def get_premise(actor: User, pk: int) -> Premise:
    return get_scoped(Premise.objects.select_related("org_unit"), actor, pk=pk)


def list_debts(actor: User, customer: Customer) -> QuerySet[Debt]:
    """The customer's debts, oldest first (the order sales recover them in)."""
    require_unit_in_scope(actor, customer.org_unit)
    return (
        Debt.objects.filter(customer=customer)
        .select_related("opened_by")
        .order_by("opened_at", "id")
    )


def debt_balance(customer: Customer) -> Money:
    """What the customer still owes, in the currency of their tariff."""
    currency = customer.tariff.currency
    total = Debt.objects.filter(customer=customer, currency=currency).aggregate(
        total=Sum("balance_minor")
    )["total"]
    return Money(int(total or 0), currency)


def list_all_debts(
    actor: User, *, search: str = "", unit: OrgUnit | None = None, open_only: bool = False
) -> QuerySet[Debt]:
    """Debts of customers in scope, newest first; ``search`` finds their customers as
    :func:`list_customers` does."""
    queryset = scoped(
        Debt.objects.select_related("customer", "customer__org_unit", "opened_by"),
        actor,
        path="customer__org_unit__path",
    )
    if unit is not None:
        require_unit_in_scope(actor, unit)
        queryset = queryset.filter(customer__org_unit__path__startswith=unit.path)
    if open_only:
        queryset = queryset.filter(balance_minor__gt=0)
    if search.strip():
        queryset = matching(queryset, read_search(search), prefix="customer__")
    return queryset.order_by("-opened_at", "-id")
