"""Scoped reads of installation history seen from a customer or a premise."""

from __future__ import annotations

from django.db.models import QuerySet

from gridvend.customers.models import Customer, Premise
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.meters.models import Installation


def customer_installations(actor: User, customer: Customer) -> QuerySet[Installation]:
    """Every meter the customer has had, where, from when to when; newest first."""
    require_unit_in_scope(actor, customer.org_unit)
    return (
        Installation.objects.filter(customer=customer)
        .select_related("meter", "premise")
        .order_by("-started_at", "-id")
    )


def premise_installations(actor: User, premise: Premise) -> QuerySet[Installation]:
    """Every meter installed at the premise, for whom, from when to when; newest first."""
    require_unit_in_scope(actor, premise.org_unit)
    return (
        Installation.objects.filter(premise=premise)
        .select_related("meter", "customer")
        .order_by("-started_at", "-id")
    )
