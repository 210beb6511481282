"""Scoped reads of debts across customers, for the back office's arrears list and its export."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from gridvend.customers.models import Debt
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope, scoped
from gridvend.org.models import OrgUnit


def list_all_debts(
    actor: User, *, search: str = "", unit: OrgUnit | None = None, open_only: bool = False
) -> QuerySet[Debt]:
    """Debts of customers in scope, newest first; ``search`` matches account number or name."""
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
    text = search.strip()
    if text:
        queryset = queryset.filter(
            Q(customer__account_number__startswith=text.upper()) | Q(customer__name__icontains=text)
        )
    return queryset.order_by("-opened_at", "-id")
