"""Row locks for customer writes, each taking its rows in one fixed, documented order.

Order across apps: customer, then meters by id (the sale's order), then the audit head (taken
last by every audited write). Locks name ``of=("self",)`` so PostgreSQL does not also lock the
organisation unit and tariff rows read in the same query.
"""

from __future__ import annotations

from gridvend.customers.models import Customer, Premise


def lock_customer(customer: Customer) -> Customer:
    """The customer's row, fresh, with its unit and tariff (and the tariff's unit) read along."""
    return (
        Customer.objects.select_for_update(of=("self",))
        .select_related("org_unit", "tariff__org_unit")
        .get(pk=customer.pk)
    )


def lock_premise(premise: Premise) -> Premise:
    """The premise's row, fresh, with its unit read along."""
    return (
        Premise.objects.select_for_update(of=("self",))
        .select_related("org_unit")
        .get(pk=premise.pk)
    )
